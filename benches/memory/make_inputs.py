"""Large inputs for the memory figures in PERFORMANCE.md (issue 20), written to the
current folder: a 16-bit RGBA PNG and an 8-bit RGB PNG of 7071x7071 gradients, a
progressive 4:4:4 JPEG of 16384x3051, and a 64x64 JPEG whose frame header claims
16384x3051 (liar.jpg). Needs Pillow; takes about a minute.

    python3 benches/memory/make_inputs.py
    /usr/bin/time -f %M setphoto process png16_rgba.png --out /tmp/out
    benches/memory/serve_rss.sh setphoto png16_rgba.png 8 --jobs 8 --memory 300MiB
"""
import zlib, struct
from PIL import Image
N=7071
def chunk(t, d): return struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t+d) & 0xffffffff)
def png(path, w, h, colour, depth, rowfn):
    ihdr = struct.pack('>IIBBBBB', w, h, depth, colour, 0, 0, 0)
    c = zlib.compressobj(9)
    out = [c.compress(b'\0' + rowfn(y)) for y in range(h)]
    out.append(c.flush())
    open(path,'wb').write(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', ihdr) + chunk(b'IDAT', b''.join(out)) + chunk(b'IEND', b''))
rhi = bytes((x * 255 // N) for x in range(N))
def row16(y):
    row = bytearray(N*8)
    row[0::8] = rhi
    row[2::8] = bytes([y*255//N])*N
    row[4::8] = b'\x80'*N
    row[6::8] = (b'\xff' if (y//512)%2 else b'\xc0')*N
    row[7::8] = b'\xff'*N
    return bytes(row)
png('png16_rgba.png', N, N, 6, 16, row16)
def row8(y):
    row = bytearray(N*3)
    row[0::3] = rhi
    row[1::3] = bytes([y*255//N])*N
    row[2::3] = b'\x80'*N
    return bytes(row)
png('png8_rgb.png', N, N, 2, 8, row8)
W,H=16384,3051
g = Image.linear_gradient('L')
r = g.rotate(90).resize((W,H))
gg = g.resize((W,H))
b = Image.new('L',(2,2)); b.putdata([0,200,200,0]); b = b.resize((W//64*2//2, H//64+1), Image.NEAREST).resize((W,H), Image.NEAREST)
Image.merge('RGB',(r,gg,b)).save('prog444.jpg', quality=90, progressive=True, subsampling=0)
small = Image.merge('RGB',(r,gg,b)).resize((64,64))
small.save('small.jpg', quality=90)
d = bytearray(open('small.jpg','rb').read())
i = d.find(b'\xff\xc0')
d[i+5:i+7] = struct.pack('>H', H); d[i+7:i+9] = struct.pack('>H', W)
open('liar.jpg','wb').write(d)
