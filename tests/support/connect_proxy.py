#!/usr/bin/python3
"""A small HTTP CONNECT proxy for tests, standing for a company's egress proxy (Python 3 stdlib only).

  connect_proxy.py --ready-file FILE --log FILE [--forward-to HOST:PORT] [--refuse] [--credentials USER:PASS]
                   [--tls-cert PEM --tls-key PEM]

Listens on 127.0.0.1 (port 0) and writes {"address": "127.0.0.1:PORT"} to the ready file once it
accepts connections. Each CONNECT's target (HOST:PORT as the client asked) is appended to the log file, one
line each, before the proxy answers. Then it tunnels bytes both ways between the client and the target,
or `--forward-to` for every target: as a company proxy resolves Microsoft's names in its own network, this
one sends every tunnel to the tenant emulator, which serves every Microsoft host name on one port.
`--refuse` answers every CONNECT with 403 Forbidden; `--credentials` wants `Proxy-Authorization: Basic`
with them and answers 407 otherwise. Anything but CONNECT gets 405: the proxy never sees plain HTTP.
`--tls-cert` and `--tls-key` make it an https:// proxy: the client speaks TLS to the proxy itself (and,
inside the tunnel, TLS to the target as always).
"""

import argparse
import base64
import json
import os
import select
import socket
import socketserver
import ssl
import threading

log_lock = threading.Lock()


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ready-file", required=True)
    parser.add_argument("--log", required=True)
    parser.add_argument("--forward-to", help="HOST:PORT every tunnel goes to, whatever its target")
    parser.add_argument("--refuse", action="store_true", help="answer every CONNECT with 403")
    parser.add_argument("--credentials", help="USER:PASSWORD the client must send (Basic)")
    parser.add_argument("--tls-cert", help="PEM certificate of the proxy itself (with --tls-key): TLS to the proxy")
    parser.add_argument("--tls-key", help="PEM key of --tls-cert")
    return parser.parse_args()


ARGS = parse_args()


def split_host_port(text):
    host, _, port = text.rpartition(":")
    return host.strip("[]"), int(port)


class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        client = self.request
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = client.recv(4096)
            if not chunk or len(head) > 65536:
                return
            head += chunk
        head, _, early = head.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split()
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if len(parts) != 3 or parts[0] != "CONNECT":
            client.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
            return
        target = parts[1]
        with log_lock, open(ARGS.log, "a") as log:
            log.write(target + "\n")
        if ARGS.credentials:
            expected = "Basic " + base64.b64encode(ARGS.credentials.encode()).decode()
            if headers.get("proxy-authorization") != expected:
                client.sendall(b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                               b"Proxy-Authenticate: Basic realm=\"test\"\r\nContent-Length: 0\r\n\r\n")
                return
        if ARGS.refuse:
            client.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
            return
        try:
            upstream = socket.create_connection(split_host_port(ARGS.forward_to or target), timeout=10)
        except (OSError, ValueError):
            client.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            return
        with upstream:
            upstream.settimeout(None)
            client.sendall(b"HTTP/1.1 200 Connection Established\r\n\r\n")
            if early:
                upstream.sendall(early)
            pipe(client, upstream)


def pipe(a, b):
    peers = {a: b, b: a}
    while True:
        readable, _, _ = select.select(list(peers), [], [], 60)
        if not readable:
            return
        for sock in readable:
            data = sock.recv(65536)
            if not data:
                return
            peers[sock].sendall(data)
            # A TLS socket may hold decrypted bytes that select() cannot see.
            while isinstance(sock, ssl.SSLSocket) and sock.pending():
                peers[sock].sendall(sock.recv(65536))


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    tls = None  # an ssl.SSLContext for an https:// proxy

    def get_request(self):
        client, address = self.socket.accept()
        if self.tls is None:
            return client, address
        # The handshake runs in the handler's thread (finish_request), not in the accepting one.
        return self.tls.wrap_socket(client, server_side=True, do_handshake_on_connect=False), address

    def finish_request(self, request, client_address):
        if isinstance(request, ssl.SSLSocket):
            try:
                request.do_handshake()
            except (ssl.SSLError, OSError):
                return  # the client did not trust the proxy's certificate: it says so itself
        super().finish_request(request, client_address)


def main():
    server = Server(("127.0.0.1", 0), Handler)
    if ARGS.tls_cert:
        server.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server.tls.load_cert_chain(ARGS.tls_cert, ARGS.tls_key)
    address = "127.0.0.1:%d" % server.server_address[1]
    temporary = ARGS.ready_file + ".tmp"
    with open(temporary, "w") as ready:
        json.dump({"address": address}, ready)
    os.rename(temporary, ARGS.ready_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
