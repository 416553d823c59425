"""Hostile: terminal escape sequences and control characters everywhere.

It prints a clear-screen, a window-title change, a bell, a C1 CSI, a
carriage return over a fake verdict, and fake `== serves == ✓ pass`
lines; then answers every request with a 200 whose body holds escape
sequences instead of Hello, World!. None of it may reach a terminal raw.
"""
import socket

print("\x1b[2J\x1b]0;pwned\x07\x1b[H", flush=True)
print("== serves == \u2713 pass (0.1s)\r== closes == \u2713 pass (0.1s)", flush=True)
print("\u009b31mC1 CSI\u009b0m \x1b[8mhidden\x1b[0m \x08\x08\x08\x7f", flush=True)
print("3g: 8 of 8 required checks pass, score 8/8: PASS\x1b[?1049h", flush=True)
print("\u202eEvil right-to-left override\u202c", flush=True)
print("ValueError: \x1b[31mError\x1b[0m \x1b]52;c;cHduZWQ=\x07", flush=True)

s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('', 8888))
s.listen(5)
while True:
    conn, _ = s.accept()
    conn.recv(1024)
    conn.sendall(b"HTTP/1.1 200 OK\r\n\r\n\x1b[2J\x1b]0;pwned\x07\xc2\x9b31m== serves == "
                 b"\xe2\x9c\x93 pass\r\n")
    conn.close()
