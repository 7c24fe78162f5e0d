#!/usr/bin/env python3
"""Re-run the repros of the hostile-input report, round two (shared/reports/
hostile-inputs-round2.md), on a binary, and print one table row per case: what happened and
whether it is now a clear error, a sensible accept or a fix. Standard library only; run by
hand (it takes a few minutes on lavapipe), never by `cargo test` (tests/hostile.rs and
tests/serve_api.rs hold the regression tests).

    python3 tools/hostile_round2.py [--bin target/release/dcgan-inpaint] [--work /tmp/hostile2]
"""

import argparse
import base64
import hashlib
import http.client
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROWS = []


def row(item, case, outcome, verdict):
    ROWS.append((item, case, outcome.replace("|", "/").replace("\n", " ")[:160], verdict))
    print(f"{item:>5} {verdict:<15} {case}: {outcome[:140]}", file=sys.stderr)


def run(args, timeout=300, **kw):
    """(exit code or 'hang', stdout + stderr)"""
    try:
        p = subprocess.run([BIN] + args, capture_output=True, text=True, timeout=timeout, **kw)
    except subprocess.TimeoutExpired as e:
        return "hang", (e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
    return p.returncode, p.stdout + p.stderr


def md5(path):
    return hashlib.md5(open(path, "rb").read()).hexdigest() if os.path.exists(path) else None


def tree(path):
    out = {}
    for d, _, files in os.walk(path):
        for f in files:
            p = os.path.join(d, f)
            out[p] = md5(p)
    return out


def first_error(text):
    for line in text.splitlines():
        if line.startswith("error"):
            return line
    return text.strip().splitlines()[-1] if text.strip() else ""


def refused(item, case, args, want, timeout=300):
    code, text = run(args, timeout)
    panicked = "panicked" in text
    ok = code == 1 and want in text and not panicked
    row(item, case, f"exit {code}: {first_error(text)}", "clear error" if ok else ("PANIC" if panicked else "CHECK"))


def tiny(extra=()):
    return ["--image-size", "16", "--channels", "1", "--gf", "8", "--df", "8", "--kernel", "4", *extra]


def patch_safetensors(src, dst, fn):
    b = bytearray(open(src, "rb").read())
    n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8 : 8 + n])
    fn(b, n, h)
    j = json.dumps(h).encode()
    j += b" " * (-len(j) % 8)
    open(dst, "wb").write(struct.pack("<Q", len(j)) + j + bytes(b[8 + n :]))


# ---- the server ----

class Server:
    def __init__(self, *args):
        self.p = subprocess.Popen([BIN, "serve", "--port", "0", *args], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.p.stdout.readline()
        self.port = int(line.split("http://127.0.0.1:")[1].split("/")[0])
        threading.Thread(target=lambda: [None for _ in self.p.stdout], daemon=True).start()

    def request(self, method, path, body=None, headers=None, timeout=120):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, dict(r.getheaders()), data

    def post_json(self, path, obj, headers=None, timeout=120):
        h = {"Content-Type": "application/json", **(headers or {})}
        return self.request("POST", path, json.dumps(obj).encode(), h, timeout)

    def stats(self):
        return json.loads(self.request("GET", "/api/v1/stats")[2])

    def rss_mb(self):
        for line in open(f"/proc/{self.p.pid}/status"):
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024
        return 0

    def stop(self):
        self.p.send_signal(signal.SIGTERM)
        try:
            self.p.wait(15)
        except subprocess.TimeoutExpired:
            self.p.kill()


def multipart(fields):
    boundary = "----hostile-probe"
    out = b""
    for name, filename, data in fields:
        out += f"--{boundary}\r\n".encode()
        if filename:
            out += f'Content-Disposition: form-data; name="{name}"; filename="{filename}"\r\nContent-Type: image/png\r\n\r\n'.encode()
        else:
            out += f'Content-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
        out += data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return f"multipart/form-data; boundary={boundary}", out


def main():
    global BIN
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(ROOT, "target/release/dcgan-inpaint"))
    ap.add_argument("--work", default="/tmp/hostile2")
    a = ap.parse_args()
    BIN = os.path.abspath(a.bin)
    shutil.rmtree(a.work, ignore_errors=True)
    os.makedirs(a.work)
    os.chdir(a.work)
    shutil.copytree(os.path.join(ROOT, "weights"), "weights")
    os.makedirs("data30")
    for f in sorted(os.listdir(os.path.join(ROOT, "data/olivetti"))):
        if f[:3] in ("s01", "s02", "s03"):
            shutil.copy(os.path.join(ROOT, "data/olivetti", f), "data30")
    face = "weights/examples/faces/s37_01.png"

    # ---- data loss (1-5) ----
    os.makedirs("photos/trip")
    shutil.copy(face, "photos/a.png")
    shutil.copy("weights/examples/faces/s38_04.png", "photos/summary.png")
    shutil.copy("weights/examples/faces/s39_07.png", "photos/trip/x.png")
    open("photos/trip/loss.csv", "w").write("x\n")
    open("photos/metrics.json", "w").write("{}")
    before = tree("photos")
    code, text = run(["complete", "photos", "--out", "photos", "--overwrite", "--iters", "1"])
    row(1, "complete --overwrite into the folder of photos", f"exit {code}: {first_error(text)}; files {'unchanged' if tree('photos') == before else 'CHANGED'}", "fixed" if tree("photos") == before and code == 1 else "DATA LOSS")
    os.makedirs("prev")
    shutil.copy(face, "prev/summary.png")
    h = md5("prev/summary.png")
    code, text = run(["complete", "prev/summary.png", "--out", "prev", "--overwrite", "--iters", "1"])
    row(2, "complete --overwrite deleting its input", f"exit {code}: {first_error(text)}", "fixed" if md5("prev/summary.png") == h and code == 1 else "DATA LOSS")
    run(["train", "--data", "data30", *tiny(), "--batch", "8", "--steps", "3", "--out", "run"])
    for item, target in [(3, "run/checkpoint.safetensors"), (4, "w.safetensors")]:
        if item == 4:
            shutil.copy("weights/olivetti-64.safetensors", "w.safetensors")
        h = md5(target)
        code, text = run(["bench", "--no-kernels", "--image-size", "16", "--width", "8", "--kernel", "4", "--batch", "4", "--reps", "1", "--json", target])
        row(item, f"bench --json {target}", f"exit {code}: {first_error(text)}", "fixed" if md5(target) == h and code == 1 else "DATA LOSS")
    p = subprocess.Popen([BIN, "train", "--data", "data30", *tiny(), "--batch", "8", "--steps", "100000", "--checkpoint-every", "1000", "--out", "hup"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while not os.path.exists("hup/log.csv") or len(open("hup/log.csv").read().splitlines()) < 4:
        time.sleep(0.1)
    p.send_signal(signal.SIGHUP)
    code = p.wait(60)
    steps = len(open("hup/log.csv").read().splitlines()) - 1
    row(5, "SIGHUP during training", f"exit {code}, checkpoint {'written' if os.path.exists('hup/checkpoint.safetensors') else 'MISSING'}, {steps} steps logged", "fixed" if code == 129 and os.path.exists("hup/checkpoint.safetensors") else "DATA LOSS")

    # ---- server (6-12, 17, 27, 28 and its weak cases) ----
    s = Server()
    kind, body = multipart([("image", "f.png", open(face, "rb").read()), ("preset", "", b"center"), ("options", "", b'{"iters":3,"ilo_layers":0}')])
    for path in ["/api/v1/jobs", "/api/v1/inpaint"]:
        st, _, data = s.request("POST", path, body, {"Content-Type": kind, "Origin": "http://evil.example"})
        row(6, f"cross-site multipart POST {path}", f"{st}: {data[:90].decode(errors='replace')}", "fixed" if st == 403 else "SECURITY")
    st, _, data = s.post_json("/api/v1/jobs", {"image": base64.b64encode(open(face, "rb").read()).decode(), "preset": "center", "options": {"iters": 400, "ilo_layers": 0}})
    job = json.loads(data)
    c = http.client.HTTPConnection("127.0.0.1", s.port, timeout=2)
    c.request("GET", job["events"], headers={"Origin": "http://evil.example"})
    c.getresponse().read(100)
    c.close()
    while s.stats()["running"] or s.stats()["waiting"]:
        time.sleep(0.2)
    st, _, data = s.request("GET", job["result"])
    row(7, "a foreign GET of the events stream, dropped", f"result {st} ({len(data)} bytes); id {job['id'][:8]}... (128 bits)", "fixed" if st == 200 else "SECURITY")
    st, _, data = s.request("GET", "/api/v1/models", headers={"Host": "attacker.example"})
    row(8, "Host: attacker.example (DNS rebinding)", f"{st}: {data[:90].decode(errors='replace')}", "fixed" if st == 403 else "SECURITY")
    st, _, data = s.request("GET", "/api/v1/jobs/1/result.png")
    row(9, "another client's result by a guessed id", f"{st}: {data[:90].decode(errors='replace')}", "fixed" if st in (400, 404) else "SECURITY")

    z64 = json.dumps({"z": [[0.1] * 100] * 64}).encode()
    stop_at = time.time() + 20
    def flood():
        while time.time() < stop_at:
            try:
                s.request("POST", "/api/v1/generate", z64, {"Content-Type": "application/json"}, timeout=60)
            except Exception:
                pass
    floods = [threading.Thread(target=flood) for _ in range(4)]
    [t.start() for t in floods]
    time.sleep(2)
    t0 = time.time()
    st, _, _ = s.request("POST", "/api/v1/inpaint", body, {"Content-Type": kind})
    took = time.time() - t0
    [t.join() for t in floods]
    row(10, "a 3-iteration job during a G(z) flood", f"{st} in {took:.2f} s (was 28.7 s)", "fixed" if st == 200 and took < 5 else "STUCK")
    st, _, data = s.post_json("/api/v1/jobs", {"image": base64.b64encode(open(face, "rb").read()).decode(), "preset": "center", "options": {"iters": 5000, "ilo_layers": 0}})
    long_job = json.loads(data)
    while s.stats()["running"] == 0:
        time.sleep(0.1)
    t0 = time.time()
    st, _, _ = s.request("POST", "/api/v1/generate", z64, {"Content-Type": "application/json"}, timeout=30)
    row(11, "G(z) behind a 5000-iteration job", f"{st} in {time.time() - t0:.2f} s (was: no answer in 30 s)", "fixed" if st == 200 and time.time() - t0 < 30 else "STUCK")
    s.request("DELETE", long_job["cancel"])
    while s.stats()["running"]:
        time.sleep(0.2)
    emoji = base64.b64encode(open("weights/examples/emoji/1f600.png", "rb").read()).decode()
    rss = [s.rss_mb()]
    for round_ in range(2):
        ids = [json.loads(s.post_json("/api/v1/jobs", {"model": "emoji", "image": emoji, "preset": "center", "options": {"iters": 400, "ilo_layers": 0, "frames_every": 1, "seed": k}})[2]) for k in range(8)]
        while s.stats()["running"] or s.stats()["waiting"]:
            time.sleep(0.5)
        rss.append(s.rss_mb())
    big = s.post_json("/api/v1/jobs", {"model": "emoji", "image": emoji, "preset": "center", "options": {"iters": 5000, "ilo_layers": 1, "ilo_iters": 5000, "frames_every": 1}})
    big = json.loads(big[2])
    row(12, "memory kept per job: 2 x 8 emoji jobs, 400 iterations, a frame every iteration", f"RSS {rss[0]:.0f} -> {rss[1]:.0f} -> {rss[2]:.0f} MB (was 158 -> 364 -> 511)", "fixed" if rss[2] - rss[1] < 60 else "CHECK")
    s.request("DELETE", big["cancel"])

    # Server weak cases.
    st, _, data = s.request("POST", "/api/v1/inpaint", b"\xef\xbb\xbf" + json.dumps({"image": base64.b64encode(open(face, "rb").read()).decode(), "preset": "center", "options": {"iters": 3, "ilo_layers": 0}}).encode(), {"Content-Type": "application/json"})
    row("weak", "JSON with a UTF-8 BOM", f"{st}", "sensible accept" if st == 200 else "CHECK")
    st, _, data = s.request("POST", "/api/v1/inpaint", '{"preset":"center"}'.encode("utf-16"), {"Content-Type": "application/json"})
    row("weak", "UTF-16 JSON", f"{st}: {data[:80].decode(errors='replace')}", "clear error" if st == 400 and b"UTF-16" in data else "CHECK")
    wrapped = base64.encodebytes(open(face, "rb").read()).decode()
    st, _, _ = s.post_json("/api/v1/prepare", {"image": wrapped})
    row("weak", "base64 wrapped at 76 columns", f"{st}", "sensible accept" if st == 200 else "CHECK")
    st, _, _ = s.post_json("/api/v1/prepare", {"image": base64.urlsafe_b64encode(open(face, "rb").read()).decode()})
    row("weak", "URL-safe base64", f"{st}", "sensible accept" if st == 200 else "CHECK")
    import zlib
    def png(w, h, grey):
        raw = b"".join(b"\x00" + bytes([grey]) * w for _ in range(h))
        chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
        return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    st, _, data = s.post_json("/api/v1/inpaint", {"image": base64.b64encode(open(face, "rb").read()).decode(), "mask": base64.b64encode(png(64, 64, 127)).decode()})
    row("weak", "a uniform 127 grey mask", f"{st}: {data[:110].decode(errors='replace')}", "clear error" if st == 422 and b"128" in data else "CHECK")
    for q in ["seed=-1", "seed=abc", "evil=1"]:
        st, h, data = s.request("GET", f"/api/v1/models/faces/masks/random?{q}")
        row("weak", f"preset query {q}", f"{st} {h.get('content-type')}: {data[:70].decode(errors='replace')}", "clear error" if st == 400 and "json" in h.get("content-type", "") else "CHECK")
    for m, path in [("GET", "/api/v1/jobs/0123456789abcdef0123456789abcdef"), ("PUT", "/api/v1/models")]:
        st, h, data = s.request(m, path)
        row("weak", f"{m} {path}", f"{st} {h.get('content-type')}: {data[:70].decode(errors='replace')}", "clear error" if st in (404, 405) and "json" in h.get("content-type", "") else "CHECK")
    kind2, body2 = multipart([("image", "a.png", b".."), ("image", "b.png", b"..")])
    st, _, data = s.request("POST", "/api/v1/inpaint", body2, {"Content-Type": kind2})
    row("accept", "multipart with two image fields", f"{st}: {data[:70].decode(errors='replace')}", "clear error" if st == 422 else "CHECK")
    # Decoding off the request threads: stats latency while two clients upload 4096^2 16-bit PNGs.
    heavy = png(4096, 4096, 0)
    stop_at = time.time() + 10
    def upload():
        while time.time() < stop_at:
            s.request("POST", "/api/v1/prepare", json.dumps({"image": base64.b64encode(heavy).decode()}).encode(), {"Content-Type": "application/json"})
    ups = [threading.Thread(target=upload) for _ in range(2)]
    [t.start() for t in ups]
    time.sleep(1)
    lat = []
    while time.time() < stop_at - 0.5:
        t0 = time.time()
        s.stats()
        lat.append((time.time() - t0) * 1000)
        time.sleep(0.05)
    [t.join() for t in ups]
    lat.sort()
    row("weak", "stats latency while 2 clients upload 4096x4096 PNGs", f"median {lat[len(lat)//2]:.0f} ms, max {lat[-1]:.0f} ms (was 292 / 547 ms; idle 3 ms)", "fixed" if lat[len(lat)//2] < 50 else "CHECK")
    s.stop()
    for item, args, want in [
        (17, ["--weights", "w_gf4096.safetensors"], "too large for this adapter"),
        (27, ["--weights", "a=weights/olivetti-64.safetensors", "--weights", "a=weights/twemoji-64.safetensors"], "two models are called 'a'"),
        (28, ["--max-body-mib", "17592186044416"], "--max-body-mib must be from 1 to 1024"),
        ("weak", ["--max-rows", "1100"], "--max-rows 1100"),
        ("accept", ["--max-body-mib", "0"], "--max-body-mib must be from 1 to 1024"),
    ]:
        if item == 17:
            patch_safetensors("weights/olivetti-64.safetensors", "w_gf4096.safetensors", lambda b, n, h: h["__metadata__"].update(architecture=h["__metadata__"]["architecture"].replace('"gf": 32', '"gf": 4096')))
        refused(item, "serve " + " ".join(args), ["serve", "--port", "0", *args], want, timeout=120)

    # ---- panics (13-16) ----
    refused(13, "train --image-size 256", ["train", "--data", "data30", "--image-size", "256", "--channels", "1", "--batch", "8", "--steps", "1", "--out", "t256"], "too large for this adapter")
    refused(14, "train --image-size 128 --gf 128", ["train", "--data", "data30", "--image-size", "128", "--channels", "1", "--gf", "128", "--df", "8", "--batch", "8", "--steps", "1", "--out", "t128"], "too large for this adapter")
    refused(15, "bench --image-size 256", ["bench", "--no-kernels", "--image-size", "256", "--channels", "1", "--batch", "2", "--reps", "1"], "too large for this adapter")
    refused(16, "sample from weights claiming gf 4096", ["sample", "--weights", "w_gf4096.safetensors", "--out", "s.png"], "too large for this adapter")
    code, text = run(["sample", "--weights", "w_gf4096.safetensors", "--out", "s.png"])
    leftovers = [d for d in os.listdir("/tmp") if d.startswith("dcgan-inpaint-runtime-")]
    row(16, "no runtime folder left behind", f"{len(leftovers)} /tmp/dcgan-inpaint-runtime-* folders", "fixed" if not leftovers else "CHECK")

    # ---- garbage with exit 0 (18-28) ----
    base = ["quality", "--weights", "weights/olivetti-64.safetensors", "--data", "data30", "--limit", "1", "--iters", "1"]
    for extra, want in [(["--lr", "nan", "--mask", "center"], "--lr"), (["--hybrid-weight", "nan", "--mask", "center"], "--hybrid-weight"), (["--ilo-layers", "99", "--mask", "center"], "--ilo-layers 99"), (["--window", "1000", "--mask", "center"], "--weighted-window 1000"), (["--mask", "bogus"], "--mask bogus")]:
        refused(18, "quality " + " ".join(extra), base + extra, want)
    patch_safetensors("weights/olivetti-64.safetensors", "w_negvar.safetensors", lambda b, n, h: None)
    b = bytearray(open("weights/olivetti-64.safetensors", "rb").read())
    n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8 : 8 + n])
    s0, e0 = h["g.bn1.running_var"]["data_offsets"]
    b[8 + n + s0 : 8 + n + e0] = b"\x00\xbc" * ((e0 - s0) // 2)
    open("w_negvar.safetensors", "wb").write(b)
    refused(19, "negative batchnorm variances", ["sample", "--weights", "w_negvar.safetensors", "--out", "s.png"], "never negative")
    b = bytearray(open("run/checkpoint.safetensors", "rb").read())
    n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8 : 8 + n])
    s0 = h["g.fc.weight"]["data_offsets"][0]
    b[8 + n + s0 : 8 + n + s0 + 4] = struct.pack("<f", 70000.0)
    open("ck_big.safetensors", "wb").write(b)
    refused(20, "export --f16 of 70000", ["export", "--checkpoint", "ck_big.safetensors", "--out", "w16.safetensors", "--f16"], "without --f16")
    refused(21, "complete --lr 3e38", ["complete", face, "--iters", "3", "--ilo-layers", "0", "--lr", "3e38", "--save-z", "--out", "lrh"], "--lr must be")
    refused(22, "complete --lam 3e38", ["complete", face, "--iters", "3", "--ilo-layers", "0", "--lam", "3e38", "--out", "lamh"], "--lam must be")
    os.makedirs("cc")
    for f in ["s37_01.png", "s38_04.png"]:
        shutil.copy(f"weights/examples/faces/{f}", "cc")
    run(["complete", "cc", "--iters", "1", "--out", "cc/r1"])
    code, text = run(["complete", "cc", "--iters", "1", "--out", "cc/r2"])
    row(23, "earlier results read back as inputs", f"exit {code}: {[l for l in text.splitlines() if l.startswith('completed')]}", "fixed" if "completed 2 image(s)" in text else "GARBAGE")
    os.makedirs("d")
    for f in os.listdir("data30"):
        shutil.copy(os.path.join("data30", f), "d")
    run(["train", "--data", "d", *tiny(), "--batch", "8", "--steps", "4", "--sample-every", "2", "--out", "d/run"])
    refused(24, "train --out inside --data, then --batch 33 on 30 faces", ["train", "--data", "d", *tiny(), "--batch", "33", "--steps", "1", "--out", "d/run2"], "holds 30 images")
    run(["train", "--data", "d", *tiny(), "--batch", "8", "--steps", "2", "--sample-every", "1", "--out", "d/run3"])
    code, text = run(["train", "--data", "d", *tiny(), "--batch", "8", "--steps", "8", "--sample-every", "1", "--resume", "--out", "d/run3"])
    row(25, "--resume beside its own sample grids", f"exit {code}; data unchanged (its grids are not data): {'changed' not in text}", "sensible accept" if code == 0 and "changed" not in text else "GARBAGE")
    run(["train", "--data", "data30", *tiny(), "--batch", "8", "--steps", "4", "--out", "r"])
    shutil.copy(face, "d/extra.png")
    refused(26, "--resume with another --data", ["train", "--data", "d", *tiny(), "--batch", "8", "--steps", "8", "--resume", "--out", "r"], "the training data changed")

    # ---- hangs (29-32) ----
    os.makedirs("fd")
    shutil.copy(face, "fd")
    os.mkfifo("fd/f.png")
    code, text = run(["complete", "fd", "--iters", "1", "--out", "fdo"], timeout=60)
    row(29, "a FIFO in an input folder", f"exit {code}: {[l for l in text.splitlines() if 'regular' in l][:1]}", "fixed" if code == 0 else ("HANG" if code == "hang" else "CHECK"))
    os.makedirs("fdd")
    for f in sorted(os.listdir("data30"))[:4]:
        shutil.copy(os.path.join("data30", f), "fdd")
    os.mkfifo("fdd/f.png")
    code, text = run(["train", "--data", "fdd", *tiny(), "--batch", "2", "--steps", "1", "--out", "tf"], timeout=60)
    row(30, "a FIFO in the training data", f"exit {code}: {[l for l in text.splitlines() if 'regular' in l][:1]}", "fixed" if code == 0 else ("HANG" if code == "hang" else "CHECK"))
    os.mkfifo("m.png")
    refused(31, "a FIFO as --mask", ["complete", face, "--mask", "m.png", "--iters", "1", "--out", "mo"], "not a regular file", timeout=60)
    os.mkfifo("l.csv")
    refused(32, "a FIFO as --log", ["plot", "--log", "l.csv", "--out", "p.png"], "not a regular file", timeout=60)

    # ---- CLI weak errors ----
    for sig, args, label in [
        ("TERM", ["sample", "--weights", "weights/olivetti-64.safetensors", "--n", "3000", "--out", "s3000.png"], "sample"),
        ("TERM", ["bench", "--image-size", "16", "--width", "8", "--kernel", "4", "--batch", "4", "--reps", "400"], "bench"),
    ]:
        p = subprocess.Popen([BIN] + args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        p.stderr.readline()
        t0 = time.time()
        p.send_signal(signal.SIGTERM)
        code = p.wait(120)
        wrote = os.path.exists("s3000.png") if label == "sample" else None
        row("weak", f"SIGTERM to {label}", f"exit {code} {time.time() - t0:.1f} s after the signal" + (f", file written: {wrote}" if wrote is not None else ""), "fixed" if code == 143 or (code == 0 and wrote) else "CHECK")
    refused("weak", "--g-steps 1000000000", ["train", "--data", "data30", *tiny(), "--batch", "8", "--steps", "1", "--g-steps", "1000000000", "--out", "gs"], "--g-steps must be at most")
    refused("weak", "quality --out /proc/table.md", ["quality", "--weights", "weights/olivetti-64.safetensors", "--data", "data30", "--out", "/proc/table.md"], "cannot write /proc/table.md")
    refused("weak", "bench --json /proc/b.json", ["bench", "--no-kernels", "--json", "/proc/b.json"], "cannot write /proc/b.json")
    os.makedirs("outdir", exist_ok=True)
    refused("weak", "bench --json a folder", ["bench", "--no-kernels", "--json", "outdir"], "another extension")
    refused("weak", "plot --log /dev/zero", ["plot", "--log", "/dev/zero", "--out", "p.png"], "not a regular file")
    refused("weak", "complete /dev/zero", ["complete", "/dev/zero", "--iters", "1", "--out", "z0"], "not a regular file")
    refused("weak", "complete IMG --out IMG", ["complete", face, "--out", face], "--out names a folder")
    refused("weak", "train --out FILE", ["train", "--data", "data30", "--out", face], "--out names a folder")
    refused("weak", "plot --out nonexist/p.png", ["plot", "--log", "run/log.csv", "--out", "nonexist/p.png"], "the folder nonexist does not exist")
    open("other.csv", "w").write("a,b\n1,2\n")
    refused("weak", "plot of a CSV with other columns", ["plot", "--log", "other.csv", "--out", "p.png"], "step,epoch,d_loss,g_loss,images_per_s")
    open("bad.csv", "w").write("step,epoch,d_loss,g_loss,images_per_s\n1,0,x\n")
    refused("weak", "plot of a log with a malformed row", ["plot", "--log", "bad.csv", "--out", "p.png"], "line 2")
    refused("weak", "--gf 65536", ["train", "--data", "data30", "--gf", "65536", "--steps", "1", "--out", "g65536"], "--gf")
    refused("weak", "--ilo-iters 18446744073709551615", ["complete", face, "--ilo-layers", "2", "--ilo-iters", "18446744073709551615", "--out", "ii"], "--ilo-iters at most")
    for value in ["-64", "64.0"]:
        patch_safetensors("weights/olivetti-64.safetensors", "w_arch.safetensors", lambda b, n, h: h["__metadata__"].update(architecture=h["__metadata__"]["architecture"].replace('"image_size": 64', f'"image_size": {value}')))
        refused("weak", f"architecture image_size {value}", ["sample", "--weights", "w_arch.safetensors", "--out", "s.png"], "must be a whole number")
    import array
    def npy(path, descr, shape, data, extra=b"", header_extra=""):
        header = "{'descr': '%s', 'fortran_order': False, 'shape': %s, %s}" % (descr, shape, header_extra)
        header += " " * (-(len(header) + 11) % 64) + "\n"
        open(path, "wb").write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + data + extra)
    npy("be.npy", ">f4", "(1, 100)", struct.pack(">100f", *([0.1] * 100)))
    refused("weak", ".npy big-endian", ["sample", "--weights", "weights/olivetti-64.safetensors", "--z", "be.npy", "--out", "s.png"], "big-endian")
    npy("tail.npy", "<f4", "(1, 100)", struct.pack("<100f", *([0.1] * 100)), extra=b"\x00" * 4000)
    refused("weak", ".npy with 4000 bytes of trailing data", ["sample", "--weights", "weights/olivetti-64.safetensors", "--z", "tail.npy", "--out", "s.png"], "more after them")
    npy("dup.npy", "<f4", "(1, 100)", struct.pack("<100f", *([0.1] * 100)), header_extra="'shape': (2, 50), ")
    refused("accept", ".npy naming shape twice", ["sample", "--weights", "weights/olivetti-64.safetensors", "--z", "dup.npy", "--out", "s.png"], "twice")
    open("grey.png", "wb").write(png(64, 64, 127))
    refused("weak", "a uniform 127 grey mask", ["complete", face, "--mask", "grey.png", "--out", "gm"], "128")
    refused("weak", "--mask-dir nonexist", ["complete", face, "--mask-dir", "nonexist", "--out", "md1"], "does not exist")
    refused("weak", "--mask-dir a file", ["complete", face, "--mask-dir", face, "--out", "md2"], "is not a folder")
    code, text = run(["complete", face, "--iters", "-1"])
    row("weak", "--iters -1", f"exit {code}: {first_error(text)}", "clear error" if code == 2 and "invalid value '-1'" in text else "CHECK")
    code, text = run(["complete", face, "--hybrid-weight", "2", "--iters", "1", "--out", "hw"])
    row("accept", "--hybrid-weight without --blend hybrid", f"exit {code}: {[l for l in text.splitlines() if 'hybrid' in l][:1]}", "sensible accept" if "only applies to --blend hybrid" in text else "CHECK")
    patch_safetensors("weights/olivetti-64.safetensors", "w_dupkey.safetensors", lambda b, n, h: None)
    raw = open("w_dupkey.safetensors", "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    hdr = raw[8 : 8 + n].decode()
    entry = '"d.fc.bias": ' + json.dumps(json.loads(hdr)["d.fc.bias"])
    dup = hdr.rstrip()[:-1] + ", " + entry + "}"
    dup = dup.encode()
    dup += b" " * (-len(dup) % 8)
    open("w_dupkey.safetensors", "wb").write(struct.pack("<Q", len(dup)) + dup + raw[8 + n :])
    refused("accept", "a safetensors header naming a tensor twice", ["sample", "--weights", "w_dupkey.safetensors", "--out", "s.png"], "twice")

    print("| item | case | outcome | now |")
    print("| --- | --- | --- | --- |")
    for r in ROWS:
        print("| %s | %s | %s | %s |" % r)
    bad = [r for r in ROWS if r[3] not in ("clear error", "sensible accept", "fixed")]
    print(f"\n{len(ROWS)} cases: {len(ROWS) - len(bad)} clear errors, sensible accepts or fixes; {len(bad)} to look at", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
