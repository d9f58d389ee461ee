"""Load-suite benchmarks: ratios against reference tools, measured in one run and printed.

0. ``--only floor``: the server against the model's own speed (the floor, DESIGN.md). The
   demo's gradient-boosted pipeline, one uvicorn worker pinned to one core: its served
   throughput, driven by a lean keep-alive HTTP client (stdlib asyncio, ``--users``
   connections) pinned to the other core, against the model's own ``predict_proba`` on a
   one-row DataFrame in a loop on the server's core (the rows are the request bodies' rows,
   prebuilt). Target: served >= 0.8x the model's own rows per second. Also printed: CPU time
   per request of the server process against CPU time per call of the model (steadier than
   wall-clock figures on a shared machine) and the model calls per request (the start-up
   check of labels from probabilities).
1. Model-bound endpoint (the demo's gradient-boosted pipeline behind the suite's own
   uvicorn server, one worker): the suite's throughput and p50 against ``wrk`` (Debian's
   ``wrk``) on the same server, same body, same number of connections. Targets:
   throughput >= 0.95x wrk's, p50 within 10 % of wrk's.
2. Trivial endpoint (a minimal asyncio HTTP responder, far faster than one Locust
   process): the suite's requests per second per Locust process against a plain
   ``locust --headless`` FastHttpUser run with the same users and body. Target >= 0.9x.
   Also printed: requests per generator CPU-second (the harness's cost per request).
3. ``--scaling`` (needs 16+ cores): a multi-worker trivial server loaded by 1, 2, 4, 8
   generator workers; scaling efficiency at 8 (target >= 0.8). Skipped with a note on
   smaller machines.

Every comparison pins the server to one set of cores and the load generators to others
(``taskset`` / ``sched_setaffinity``), or the figures would measure CPU stolen from the
server. Runs alternate (reference, suite, reference, suite, ...) and the medians are
compared, so slow drift of a shared machine hits both sides.

Usage::

    python benchmarks/bench_load.py [--duration 8] [--rounds 2] [--users 4] [--scaling]
    python benchmarks/bench_load.py --only floor --duration 10 --rounds 3 --users 2

Needs ``wrk`` on PATH for part 1 (``apt-get install wrk``); part 1 is skipped without it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

TRIVIAL_SERVER = textwrap.dedent('''
    import asyncio, os, socket, sys

    BODY = b'{"predictions":[0],"probabilities":[[0.9,0.1]]}'
    RESPONSE = (b"HTTP/1.1 200 OK\\r\\ncontent-type: application/json\\r\\ncontent-length: "
                + str(len(BODY)).encode() + b"\\r\\n\\r\\n" + BODY)

    class Proto(asyncio.Protocol):
        def connection_made(self, transport):
            self.t = transport
            self.buf = b""
            transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        def data_received(self, data):
            self.buf += data
            while True:
                head, sep, rest = self.buf.partition(b"\\r\\n\\r\\n")
                if not sep:
                    return
                length = 0
                for line in head.split(b"\\r\\n"):
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                if len(rest) < length:
                    return
                self.buf = rest[length:]
                self.t.write(RESPONSE)

    async def main(sock):
        loop = asyncio.get_running_loop()
        server = await loop.create_server(Proto, sock=sock)
        print("READY", flush=True)
        async with server:
            await server.serve_forever()

    sock = socket.socket(fileno=int(sys.argv[1]))
    asyncio.run(main(sock))
''')

LEAN_CLIENT = textwrap.dedent('''
    import asyncio, json, sys, time

    async def user(port, request, stop, out):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while time.perf_counter() < stop:
            sent = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\\r\\n\\r\\n")
            length = 0
            for line in head.split(b"\\r\\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            if b" 200 " not in head[:13]:
                raise SystemExit(head.decode(errors="replace"))
            out.append(time.perf_counter() - sent)
        writer.close()

    async def main(port, body, users, warmup, duration):
        request = (b"POST / HTTP/1.1\\r\\nHost: bench\\r\\nContent-Type: application/json\\r\\n"
                   b"Content-Length: " + str(len(body)).encode() + b"\\r\\n\\r\\n" + body)
        await asyncio.gather(*(user(port, request, time.perf_counter() + warmup, [])
                               for _ in range(users)))
        print("MEASURING", flush=True)
        sys.stdin.readline()
        lat = []
        start = time.perf_counter()
        await asyncio.gather(*(user(port, request, start + duration, lat) for _ in range(users)))
        elapsed = time.perf_counter() - start
        lat.sort()
        print(json.dumps({"rps": len(lat) / elapsed, "requests": len(lat),
                          "p50_ms": lat[len(lat) // 2] * 1e3 if lat else None}), flush=True)

    port, body_path, users, warmup, duration = sys.argv[1:6]
    asyncio.run(main(int(port), open(body_path, "rb").read(), int(users), float(warmup),
                     float(duration)))
''')

PLAIN_LOCUSTFILE = textwrap.dedent('''
    import os
    from locust import FastHttpUser, constant, task

    BODY = open(os.environ["BENCH_BODY"], "rb").read()
    HEADERS = {"content-type": "application/json"}

    class Plain(FastHttpUser):
        wait_time = constant(0)
        concurrency = 1

        @task
        def predict(self):
            self.client.post("/", data=BODY, headers=HEADERS, name="predict")
''')


def _cpus() -> list[int]:
    return sorted(os.sched_getaffinity(0))


def _listen() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    sock.set_inheritable(True)
    return sock


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# -- the project and a suite context pointing at a URL ----------------------------------------
class _UrlModel:
    """Stands in for the HTTP adapter: the suite only reads ``format`` and ``spec``."""

    format = "http"

    def __init__(self, url: str) -> None:
        self.spec = type("Spec", (), {"url": url, "headers": {}, "request_field": "instances",
                                      "predictions_field": "predictions"})()


def _context(tmp: Path, url: str, settings: dict[str, Any]) -> Any:
    from certify.data import load_dataset
    from certify.demo import SEED, make_credit_data
    from certify.policy import policy_from_mapping
    from certify.suite import SuiteContext
    from certify.suites.load import LoadSettings

    data_dir = tmp / "data"
    data_dir.mkdir(exist_ok=True)
    if not (data_dir / "ref.csv").exists():
        make_credit_data(1000, SEED).to_csv(data_dir / "ref.csv", index=False)
        make_credit_data(300, SEED + 1).to_csv(data_dir / "eval.csv", index=False)
    policy = policy_from_mapping({
        "candidate": {"url": url},
        "data": {"reference": str(data_dir / "ref.csv"), "evaluation": str(data_dir / "eval.csv"),
                 "target": "default"},
        "suites": {"load": settings}}, check_files=False)
    data = load_dataset(data_dir / "ref.csv", data_dir / "eval.csv", target="default",
                        features=None, task="classification", overrides={}, sensitive=[])
    run_dir = Path(tempfile.mkdtemp(prefix="run-", dir=tmp))
    return SuiteContext(name="load", policy=policy, settings=LoadSettings.model_validate(settings),
                        candidate=_UrlModel(url), baseline=None, data=data, seed=7,
                        run_dir=run_dir, output_root=tmp)


def _suite_run(tmp: Path, url: str, *, users: int, duration: float, gen_cpus: list[int],
               workers: int = 1) -> dict[str, Any]:
    from certify.suites.load import LoadSuite

    settings = {"profiles": ["steady"], "duration_s": duration, "warmup_s": 1.0,
                "workers": workers, "users": users, "body_pool": 1, "generator_cpus": gen_cpus,
                "generator_cpu_limit": 100.0, "max_requests": 10_000_000,
                "thresholds": {"error_rate": {"fail": 0.01}}}
    ctx = _context(tmp, url, settings)
    result = LoadSuite().run(ctx)
    run = result.runs[("candidate", "steady")]
    if run.generator_error:
        raise SystemExit(f"suite run failed: {run.generator_error}")
    cpu = sum(float(w.get("mean_pct") or 0.0) for w in run.workers) / 100.0 * run.elapsed_s
    return {"rps": run.throughput_rps, "p50_ms": run.latency_ms["p50"],
            "p99_ms": run.latency_ms["p99"], "requests": run.requests,
            "errors": run.failures, "cpu_s": cpu, "elapsed_s": run.elapsed_s,
            "rps_per_cpu_s": run.successes / cpu if cpu else None}


def _body(tmp: Path, url: str) -> str:
    from certify.suites.load.target import request_bodies

    ctx = _context(tmp, url, {"body_pool": 1})
    bodies, _ = request_bodies(ctx, "instances")
    return bodies[0]


# -- references ------------------------------------------------------------------------------
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def _wrk(url: str, body: str, *, users: int, duration: float, cpus: list[int],
         tmp: Path) -> dict[str, Any]:
    script = tmp / "post.lua"
    script.write_text('wrk.method = "POST"\n'
                      f"wrk.body = [==[{body}]==]\n"
                      'wrk.headers["Content-Type"] = "application/json"\n')
    cmd = ["taskset", "-c", ",".join(map(str, cpus)), "wrk", "-t", "1", "-c", str(users),
           "-d", f"{duration:g}s", "--latency", "-s", str(script), url]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    m = re.search(r"^\s+50%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
    p50 = float(m.group(1)) * _UNITS[m.group(2)] if m else None
    m99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
    p99 = float(m99.group(1)) * _UNITS[m99.group(2)] if m99 else None
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return {"rps": rps, "p50_ms": p50, "p99_ms": p99,
            "errors": int(non2xx.group(1)) if non2xx else 0}


def _plain_locust(url: str, body: str, *, users: int, duration: float, cpus: list[int],
                  tmp: Path) -> dict[str, Any]:
    locustfile = tmp / "plain_locustfile.py"
    locustfile.write_text(PLAIN_LOCUSTFILE)
    body_path = tmp / "body.json"
    body_path.write_text(body)
    prefix = tmp / f"plain-{time.monotonic_ns()}"
    cmd = ["taskset", "-c", ",".join(map(str, cpus)), sys.executable, "-m", "locust",
           "-f", str(locustfile), "--headless", "-u", str(users), "-r", "100",
           "-t", f"{duration:g}s", "-H", url.rstrip("/"), "--only-summary", "--csv", str(prefix),
           "--loglevel", "WARNING", "--stop-timeout", "0"]
    before = _children_cpu()
    subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60,
                   env={**os.environ, "BENCH_BODY": str(body_path)}, cwd=tmp)
    cpu = _children_cpu() - before
    rows = (Path(f"{prefix}_stats.csv")).read_text().splitlines()
    header = rows[0].split(",")
    agg = next(r.split(",") for r in rows[1:] if ",Aggregated," in r)
    row = dict(zip(header, agg, strict=False))
    count = int(row["Request Count"])
    return {"rps": float(row["Requests/s"]), "p50_ms": float(row["50%"]),
            "requests": count, "errors": int(row["Failure Count"]), "cpu_s": cpu,
            "rps_per_cpu_s": count / cpu if cpu else None}


# -- the parts -------------------------------------------------------------------------------
def _alternate(rounds: int, reference: Any, suite: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    refs, ours = [], []
    for i in range(rounds):
        refs.append(reference())
        print(f"    round {i + 1}: reference {json.dumps(refs[-1])}", flush=True)
        ours.append(suite())
        print(f"    round {i + 1}: suite     {json.dumps(ours[-1])}", flush=True)
    return refs, ours


def _median(rows: list[dict[str, Any]], key: str) -> float:
    return statistics.median(float(r[key]) for r in rows if r.get(key) is not None)


def _demo_model() -> tuple[Any, Any, Any]:
    """The demo's gradient-boosted pipeline (fitted with one thread), its adapter and the
    evaluation rows."""
    from threadpoolctl import threadpool_limits

    from certify.demo import FEATURES, SEED, TARGET, candidate_model, make_credit_data
    from certify.models.sklearn import SklearnModel

    ref = make_credit_data(1500, SEED)
    evaluation = make_credit_data(300, SEED + 1)
    with threadpool_limits(limits=1, user_api="openmp"):
        estimator = candidate_model().fit(ref[FEATURES], ref[TARGET])
    model = SklearnModel(estimator, name="gbm", digest="sha256:bench", source="bench",
                         format="skops", task="classification",
                         classes=[int(c) for c in estimator.classes_], features=FEATURES)
    return estimator, model, evaluation[FEATURES]


def _model_loop(estimator: Any, frame: Any, duration: float, cpus: list[int]) -> dict[str, Any]:
    """The model's own ``predict_proba`` on a one-row DataFrame, in a loop on ``cpus``."""
    from threadpoolctl import threadpool_limits

    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cpus)
    try:
        with threadpool_limits(limits=1):
            estimator.predict_proba(frame)
            calls, cpu0, start = 0, time.process_time(), time.perf_counter()
            while time.perf_counter() - start < duration:
                estimator.predict_proba(frame)
                calls += 1
            elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu0
    finally:
        os.sched_setaffinity(0, before)
    return {"rps": calls / elapsed, "calls": calls, "cpu_us_per_call": 1e6 * cpu / calls}


def _served(server: Any, body_path: Path, *, users: int, duration: float,
            cpus: list[int]) -> dict[str, Any]:
    """The lean client against ``server`` (one worker) from ``cpus``; the server's CPU time
    during the measured part."""
    import psutil

    worker = psutil.Process(server.procs[0].pid)
    client = subprocess.Popen(
        ["taskset", "-c", ",".join(map(str, cpus)), sys.executable, "-c", LEAN_CLIENT,
         str(server.port), str(body_path), str(users), "1.0", f"{duration:g}"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert client.stdin is not None and client.stdout is not None
    client.stdout.readline()  # MEASURING
    cpu0 = sum(worker.cpu_times()[:2])
    client.stdin.write("go\n")
    client.stdin.flush()
    doc: dict[str, Any] = json.loads(client.stdout.readline())
    cpu = sum(worker.cpu_times()[:2]) - cpu0
    client.wait(timeout=30)
    doc["cpu_us_per_request"] = 1e6 * cpu / doc["requests"] if doc["requests"] else None
    return doc


def floor(tmp: Path, args: argparse.Namespace, server_cpus: list[int],
          gen_cpus: list[int]) -> None:
    """Part 0: served throughput of one worker against the model's own single-row speed."""
    from certify.suites.load.app import FrameBuilder, check_labels
    from certify.suites.load.server import ModelServer

    print(f"0. floor: the demo GBM's own predict_proba on one row vs served by one uvicorn "
          f"worker, both on core(s) {server_cpus}; the client on {gen_cpus}, {args.users} "
          f"connection(s)")
    estimator, model, evaluation = _demo_model()
    features = list(evaluation.columns)
    dtypes = {c: str(evaluation[c].dtype) for c in features}
    labels = check_labels(model, evaluation)
    print(f"   served with {labels['calls_per_request']} model call(s) per request: "
          f"{labels['reason']}")
    body = _body(tmp, "http://127.0.0.1:1/")
    body_path = tmp / "floor-body.json"
    body_path.write_text(body)
    frame = FrameBuilder(features, dtypes).general(json.loads(body)["instances"])
    server = ModelServer(model, features=features, dtypes=dtypes, workers=1,
                         labels_from_proba=labels["calls_per_request"] == 1,
                         affinity=server_cpus)
    with server:
        refs, ours = _alternate(
            args.rounds, lambda: _model_loop(estimator, frame, args.duration, server_cpus),
            lambda: _served(server, body_path, users=args.users, duration=args.duration,
                            cpus=gen_cpus))
    ratio = _median(ours, "rps") / _median(refs, "rps")
    cpu_ratio = _median(refs, "cpu_us_per_call") / _median(ours, "cpu_us_per_request")
    print(f"   model's own : {_median(refs, 'rps'):.1f} rows/s "
          f"({_median(refs, 'cpu_us_per_call'):.0f} µs CPU per call)")
    print(f"   served      : {_median(ours, 'rps'):.1f} req/s "
          f"({_median(ours, 'cpu_us_per_request'):.0f} µs server CPU per request, "
          f"p50 {_median(ours, 'p50_ms'):.2f} ms)")
    print(f"   served / model's own throughput = {ratio:.3f} (target >= 0.8)")
    print(f"   model CPU per call / server CPU per request = {cpu_ratio:.3f} (the same ratio "
          f"from CPU time: steadier on a shared machine)")


def model_bound(tmp: Path, args: argparse.Namespace, server_cpus: list[int],
                gen_cpus: list[int]) -> None:
    from certify.suites.load.app import check_labels
    from certify.suites.load.server import ModelServer

    print("1. model-bound endpoint: demo GBM behind the suite's server (1 uvicorn worker) "
          f"on core(s) {server_cpus}; generators on {gen_cpus}; {args.users} connections")
    if shutil.which("wrk") is None:
        print("   skipped: wrk is not installed (apt-get install wrk)")
        return
    _, model, evaluation = _demo_model()
    features = list(evaluation.columns)
    server = ModelServer(model, features=features,
                         dtypes={c: str(evaluation[c].dtype) for c in features}, workers=1,
                         labels_from_proba=check_labels(model, evaluation)["calls_per_request"] == 1,
                         affinity=server_cpus)
    with server:
        body = _body(tmp, server.url)
        refs, ours = _alternate(
            args.rounds,
            lambda: _wrk(server.url, body, users=args.users, duration=args.duration,
                         cpus=gen_cpus, tmp=tmp),
            lambda: _suite_run(tmp, server.url, users=args.users, duration=args.duration,
                               gen_cpus=gen_cpus))
    rps_ratio = _median(ours, "rps") / _median(refs, "rps")
    p50_ratio = _median(ours, "p50_ms") / _median(refs, "p50_ms")
    print(f"   wrk   : {_median(refs, 'rps'):.1f} req/s, p50 {_median(refs, 'p50_ms'):.2f} ms")
    print(f"   suite : {_median(ours, 'rps'):.1f} req/s, p50 {_median(ours, 'p50_ms'):.2f} ms")
    print(f"   throughput ratio suite/wrk = {rps_ratio:.3f} (target >= 0.95)")
    print(f"   p50 ratio suite/wrk        = {p50_ratio:.3f} (target within 0.90-1.10)")


def trivial(tmp: Path, args: argparse.Namespace, server_cpus: list[int],
            gen_cpus: list[int]) -> None:
    print("2. trivial endpoint: minimal asyncio responder on core(s) "
          f"{server_cpus}; one Locust process on {gen_cpus}; {args.users} users")
    sock = _listen()
    proc = subprocess.Popen(["taskset", "-c", ",".join(map(str, server_cpus)), sys.executable,
                             "-c", TRIVIAL_SERVER, str(sock.fileno())],
                            pass_fds=(sock.fileno(),), stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        proc.stdout.readline()
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/"
        body = _body(tmp, url)
        refs, ours = _alternate(
            args.rounds,
            lambda: _plain_locust(url, body, users=args.users, duration=args.duration,
                                  cpus=gen_cpus, tmp=tmp),
            lambda: _suite_run(tmp, url, users=args.users, duration=args.duration,
                               gen_cpus=gen_cpus))
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        sock.close()
    ratio = _median(ours, "rps") / _median(refs, "rps")
    cpu_ratio = _median(ours, "rps_per_cpu_s") / _median(refs, "rps_per_cpu_s")
    print(f"   plain locust : {_median(refs, 'rps'):.1f} req/s "
          f"({_median(refs, 'rps_per_cpu_s'):.0f} req per CPU-second)")
    print(f"   suite        : {_median(ours, 'rps'):.1f} req/s "
          f"({_median(ours, 'rps_per_cpu_s'):.0f} req per CPU-second)")
    print(f"   throughput per Locust process, suite/plain = {ratio:.3f} (target >= 0.9)")
    print(f"   requests per generator CPU-second, suite/plain = {cpu_ratio:.3f} (plain Locust's "
          "CPU counts its whole process life, start-up included: an upper bound for the suite)")
    print("   (plain Locust reports percentiles in whole milliseconds; the suite's p50 is "
          f"{_median(ours, 'p50_ms'):.3f} ms)")


def scaling(tmp: Path, args: argparse.Namespace) -> None:
    cpus = _cpus()
    print("3. scaling: trivial multi-worker server, 1/2/4/8 generator workers")
    if len(cpus) < 16:
        print(f"   skipped: needs 16+ cores, this machine gives {len(cpus)}")
        return
    server_cpus, gen_pool = cpus[:8], cpus[8:16]
    sock = _listen()
    procs = [subprocess.Popen(["taskset", "-c", str(c), sys.executable, "-c", TRIVIAL_SERVER,
                               str(sock.fileno())], pass_fds=(sock.fileno(),),
                              stdout=subprocess.PIPE, text=True) for c in server_cpus]
    try:
        for p in procs:
            assert p.stdout is not None
            p.stdout.readline()
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/"
        rates = {}
        for n in (1, 2, 4, 8):
            res = _suite_run(tmp, url, users=args.users * n, duration=args.duration,
                             gen_cpus=gen_pool[:n], workers=n)
            rates[n] = res["rps"]
            print(f"   {n} worker(s): {res['rps']:.0f} req/s", flush=True)
        print(f"   scaling efficiency at 8 = {rates[8] / (8 * rates[1]):.3f} (target >= 0.8)")
    finally:
        for p in procs:
            p.terminate()
            p.wait(timeout=10)
        sock.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per measured run")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds per comparison")
    parser.add_argument("--users", type=int, default=4, help="connections / Locust users")
    parser.add_argument("--scaling", action="store_true", help="part 3 (16+ cores)")
    parser.add_argument("--only", choices=["floor", "model", "trivial"], default=None)
    args = parser.parse_args()
    cpus = _cpus()
    if len(cpus) < 2:
        print("needs at least 2 cores (server and generators pinned apart)")
        return 1
    half = max(1, len(cpus) // 2)
    server_cpus, gen_cpus = cpus[:half], cpus[half:]
    print(f"cores: {len(cpus)}; server on {server_cpus}, generators on {gen_cpus}")
    # This process, and Ray's processes started from it, stay off the server's cores too.
    os.sched_setaffinity(0, gen_cpus)
    if args.only != "floor":
        from certify.raycluster import ensure_ray

        start = time.monotonic()
        ensure_ray()
        print(f"Ray started in {time.monotonic() - start:.1f} s")
    with tempfile.TemporaryDirectory(prefix="bench-load-") as name:
        tmp = Path(name)
        if args.only in (None, "floor"):
            floor(tmp, args, server_cpus[:1], gen_cpus)
        if args.only in (None, "model"):
            model_bound(tmp, args, server_cpus[:1], gen_cpus)
        if args.only in (None, "trivial"):
            trivial(tmp, args, server_cpus[:1], gen_cpus)
        if args.scaling:
            scaling(tmp, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
