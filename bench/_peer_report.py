"""The table `bench/peer_fides.py` prints: both systems per batch, then the ratios."""

from __future__ import annotations

from typing import Any

__all__ = ["print_report"]

TARGET_SPEED = 3.0  # ours >= 3x Fides' requests/min
TARGET_MEMORY = 0.5  # ours <= half Fides' peak PSS


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _cpu_per_request(batch: Any) -> float | None:
    return sum(g.cpu_s for g in batch.groups.values()) / batch.n if batch.n else None


def _row(system: str, b: Any) -> str:
    per = ", ".join(f"{k} {g.cpu_s / b.n:.3f}" for k, g in b.groups.items())
    pss = ", ".join(
        f"{k} {g.peak_pss_mib:.0f} ({g.peak_processes} proc)" for k, g in b.groups.items()
    )
    return (
        f"{system:<6} {b.kind:<8} {b.n:>4} {b.completed:>5} {_fmt(b.wall_s, '7.1f')} "
        f"{_fmt(b.requests_per_min, '8.1f')} {_fmt(b.p50_latency_s, '6.1f')} "
        f"{_fmt(_cpu_per_request(b), '8.3f')} {b.peak_pss_mib:8.0f}  {b.verified:<14}\n"
        f"{'':<6}   CPU-s/req by process: {per}\n"
        f"{'':<6}   peak PSS MiB by process: {pss}"
    )


def _overall(batches: list[Any]) -> tuple[float | None, float | None, float]:
    done = sum(b.completed for b in batches)
    wall = sum(b.wall_s or 0 for b in batches)
    n = sum(b.n for b in batches)
    cpu = sum(sum(g.cpu_s for g in b.groups.values()) for b in batches)
    return (
        done / wall * 60 if wall else None,
        cpu / n if n else None,
        max((b.peak_pss_mib for b in batches), default=0.0),
    )


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def print_report(
    fides: list[Any], ours: list[Any], *, load_before: tuple[float, float, float], seconds: float
) -> None:
    print()
    print("Side by side with Fides 2.86.2: one PostgreSQL system, 10,000 customers, same e-mails")
    print(
        f"load average before the run: {load_before[0]:.2f} {load_before[1]:.2f} "
        f"{load_before[2]:.2f} (2 shared cores); whole run {seconds:.0f} s"
    )
    print(
        f"{'system':<6} {'kind':<8} {'n':>4} {'done':>5} {'wall s':>7} {'req/min':>8} "
        f"{'p50 s':>6} {'CPU-s/rq':>8} {'PSS MiB':>8}  verified"
    )
    for b in fides:
        print(_row("fides", b))
    for b in ours:
        print(_row("ours", b))
    if fides and any(b.harness_pss_mib for b in fides):
        print(
            "fides_bench.py's own peak PSS (whole trees incl. every postgres backend), MiB: "
            + ", ".join(f"{b.kind} {b.n}: {b.harness_pss_mib}" for b in fides)
        )
    if not (fides and ours):
        return
    print()
    print(
        f"{'batch':<14} {'req/min ours/fides':>19} {'CPU-s/req ours/fides':>21} "
        f"{'peak PSS ours/fides':>20}"
    )
    theirs = {(b.kind, b.n): b for b in fides}
    for b in ours:
        f = theirs.get((b.kind, b.n))
        if f is None:
            continue
        print(
            f"{b.kind + ' ' + str(b.n):<14} "
            f"{_fmt(_ratio(b.requests_per_min, f.requests_per_min), '19.2f')} "
            f"{_fmt(_ratio(_cpu_per_request(b), _cpu_per_request(f)), '21.2f')} "
            f"{_fmt(_ratio(b.peak_pss_mib, f.peak_pss_mib), '20.2f')}"
        )
    o_rate, o_cpu, o_pss = _overall(ours)
    f_rate, f_cpu, f_pss = _overall(fides)
    speed, memory = _ratio(o_rate, f_rate), _ratio(o_pss, f_pss)
    print(
        f"{'all batches':<14} {_fmt(speed, '19.2f')} {_fmt(_ratio(o_cpu, f_cpu), '21.2f')} "
        f"{_fmt(memory, '20.2f')}"
    )
    print(
        f"all batches: fides {_fmt(f_rate, '.1f')} req/min, {_fmt(f_cpu, '.3f')} CPU-s/req, "
        f"peak PSS {f_pss:.0f} MiB; ours {_fmt(o_rate, '.1f')} req/min, "
        f"{_fmt(o_cpu, '.3f')} CPU-s/req, peak PSS {o_pss:.0f} MiB"
    )
    speed_ok = speed is not None and speed >= TARGET_SPEED
    memory_ok = memory is not None and memory <= TARGET_MEMORY
    print(
        f"target: requests/min >= {TARGET_SPEED:.0f}x Fides: {'met' if speed_ok else 'MISSED'}; "
        f"peak PSS <= {TARGET_MEMORY:.1f}x Fides: {'met' if memory_ok else 'MISSED'}"
    )
