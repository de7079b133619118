"""A fuzz campaign: N mutated cases, run by pulsar and by onnxruntime, outcomes counted.

    python tests/fuzz/campaign.py --cases 20000 [--seed 0] [--workers 2] [--out DIR]

Case i is seed model `i mod len(seeds)` (shuffled) mutated by RandomDraw(seed * 10**9 + i), so any
case can be rebuilt from its id. Failing cases (untyped, crash, hang, memory) are written to
--out as <id>.onnx for reproduction.
"""
import argparse
import collections
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fuzz import mutate, runner, seeds  # noqa: E402


def build_cases(n, seed, shared_every=50):
    node, shared = list(seeds.node_seeds()), list(seeds.shared_seeds())
    random.Random(seed).shuffle(node)
    for i in range(n):
        pool = shared if shared and i % shared_every == 0 else node
        name, raw, feeds = pool[(i // (shared_every if pool is shared else 1)) % len(pool)]
        mutated, done = mutate.mutate(raw, mutate.RandomDraw(seed * 10 ** 9 + i))
        yield i, name, done, mutated, feeds


def bucket(outcome):
    return outcome.split(":")[0]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--cases", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--engines", default="pulsar,onnxruntime")
    ap.add_argument("--out", default="fuzz-failures")
    args = ap.parse_args(argv)
    cases = list(build_cases(args.cases, args.seed))
    info = {i: (name, done, raw) for i, name, done, raw, _ in cases}
    out = Path(args.out)
    results = {}
    for engine in args.engines.split(","):
        start = time.monotonic()
        outcomes = {}
        for case_id, outcome in runner.Pool(engine, args.workers).run(
                (i, raw, feeds) for i, _, _, raw, feeds in cases):
            outcomes[case_id] = outcome
            if bucket(outcome) in ("untyped", "crash", "hang", "memory"):
                out.mkdir(parents=True, exist_ok=True)
                name, done, raw = info[case_id]
                (out / f"{engine}-{case_id}.onnx").write_bytes(raw)
                with open(out / f"{engine}.log", "a") as log:
                    log.write(f"{case_id}\t{outcome}\t{name}\t{' '.join(done)}\n")
        results[engine] = (outcomes, time.monotonic() - start)
    report(results, len(cases))


def report(results, n):
    print(f"{n} cases")
    rows = ["ok", "typed", "untyped", "crash", "hang", "memory"]
    print(f"{'outcome':<10}" + "".join(f"{e:>14}" for e in results))
    for r in rows:
        print(f"{r:<10}" + "".join(f"{sum(bucket(o) == r for o in res.values()):>14}"
                                   for res, _ in results.values()))
    print(f"{'seconds':<10}" + "".join(f"{t:>14.0f}" for _, t in results.values()))
    for engine, (res, _) in results.items():
        kinds = collections.Counter(o for o in res.values()
                                    if bucket(o) in ("untyped", "crash", "memory", "hang"))
        if kinds:
            print(f"\n{engine}: {len(kinds)} distinct failure kinds")
            for kind, count in kinds.most_common(40):
                print(f"  {count:6d}  {kind}")


if __name__ == "__main__":
    main()
