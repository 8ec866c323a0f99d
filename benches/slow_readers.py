"""Hand check of `setphoto serve` memory under slow readers (not run by cargo test): starts
the server, opens N connections that each request a 20 MiB avatar file and never read,
and samples the server's VmRSS for 30 s. Usage: slow_readers.py SETPHOTO_BIN [N]."""
import os, socket, subprocess, sys, tempfile, time

binary, n = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 200
data = tempfile.mkdtemp()
server = subprocess.Popen([binary, "serve", "--listen", "127.0.0.1:0", "--data", data],
                          stderr=subprocess.PIPE, text=True)
line = server.stderr.readline()
port = int(line.split("http://127.0.0.1:")[1].split()[0])
folder = os.path.join(data, "avatars", "U0RSS")
os.makedirs(folder, exist_ok=True)
name = "0123456789abcdef0123_original.jpg"
with open(os.path.join(folder, name), "wb") as f:
    f.write(os.urandom(20 << 20))

def rss():
    with open(f"/proc/{server.pid}/status") as f:
        return next(int(l.split()[1]) // 1024 for l in f if l.startswith("VmRSS:"))

before = rss()
sockets = []
for _ in range(n):
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.sendall(f"GET /avatars/U0RSS/{name} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    sockets.append(s)
peak, samples, start = before, [], time.time()
while time.time() - start < 30:
    r = rss(); peak = max(peak, r); samples.append((round(time.time() - start, 1), r))
    time.sleep(0.5)
statuses = {}
for s in sockets:
    s.settimeout(0.5)
    try:
        head = s.recv(64).split(b" ")[1].decode()
    except Exception:
        head = "none"
    statuses[head] = statuses.get(head, 0) + 1
    s.close()
server.terminate(); server.wait()
print(f"connections {n}: RSS before {before} MiB, peak {peak} MiB, at 30 s {samples[-1][1]} MiB")
print("first status line per connection:", statuses)
print("samples (s, MiB):", samples[::6])
