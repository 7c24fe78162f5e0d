#!/usr/bin/env python3
"""Measure a running `dcgan-inpaint serve`: the time from submitting a job to its first live
frame and to its result, and throughput (images x iterations / s) with 1 client versus N
concurrent clients (their jobs wait together and are batched). Standard library only.

    cargo run --release -- serve --port 8080 &
    python3 tools/serve_load.py --url http://127.0.0.1:8080 --iters 200 --clients 1 8
"""
import argparse
import base64
import http.client
import json
import pathlib
import threading
import time
import urllib.parse
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parent.parent


def request(url, path, body=None, method=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url + path, data=data, method=method, headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=3600) as r:
        return r.status, r.read()


def body(args, image, seed):
    options = {"iters": args.iters, "ilo_layers": args.ilo_layers, "seed": seed}
    return {"model": "faces", "image": image, "preset": "center", "options": options}


def first_frame(args, image):
    """Seconds from POST to the first frame, and to done, for one job on an idle server."""
    start = time.perf_counter()
    _, reply = request(args.url, "/api/v1/jobs", body(args, image, 0))
    job = json.loads(reply)
    u = urllib.parse.urlparse(args.url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=3600)
    conn.request("GET", job["events"])
    stream = conn.getresponse()
    first = None
    event = ""
    for raw in stream:
        line = raw.decode().rstrip("\n")
        if line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: "):
            data = json.loads(line[6:])
            if event == "progress" and first is None and "generated" in data:
                first = time.perf_counter() - start
            if event in ("done", "error", "cancelled"):
                return first, time.perf_counter() - start, event, data
    return first, time.perf_counter() - start, "eof", {}


def load(args, image, clients):
    """`clients` threads, each sending `--jobs` one-shot requests in turn."""
    errors = []

    def client(k):
        for j in range(args.jobs):
            try:
                status, _ = request(args.url, "/api/v1/inpaint", body(args, image, k * 1000 + j))
                if status != 200:
                    errors.append(status)
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(str(e))

    before = json.loads(request(args.url, "/api/v1/stats")[1])
    start = time.perf_counter()
    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    after = json.loads(request(args.url, "/api/v1/stats")[1])
    images = clients * args.jobs
    iterations = args.iters + args.ilo_layers * 100 + 1
    batches = after["batches"] - before["batches"]
    return wall, images, iterations, batches, errors


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", default="http://127.0.0.1:8080")
    p.add_argument("--iters", type=int, default=200)
    p.add_argument("--ilo-layers", type=int, default=0)
    p.add_argument("--jobs", type=int, default=2, help="jobs per client")
    p.add_argument("--clients", type=int, nargs="+", default=[1, 8])
    args = p.parse_args()
    image = base64.b64encode((ROOT / "weights/examples/faces/s37_01.png").read_bytes()).decode()
    request(args.url, "/api/v1/inpaint", {**body(args, image, 0), "options": {"iters": 2, "ilo_layers": 0}})  # warm-up
    first, done, how, _ = first_frame(args, image)
    print(f"one job, {args.iters} z iterations + {args.ilo_layers} ILO layers: first frame after {first:.3f} s, {how} after {done:.2f} s")
    base = None
    for clients in args.clients:
        wall, images, iterations, batches, errors = load(args, image, clients)
        rate = images * iterations / wall
        base = base or rate
        print(f"{clients} client(s) x {args.jobs} jobs: {images} images in {wall:.1f} s over {batches} batches, "
              f"{rate:.0f} image-iterations/s ({rate / base:.2f}x the first row){', errors: ' + str(errors) if errors else ''}")


if __name__ == "__main__":
    main()
