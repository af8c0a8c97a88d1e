"""`spark-tui pull` and `spark-tui cache`: get a model into the standard HF cache, see the cache, prune it."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from typing import Any

from spark_tui.errors import SparkTuiError, UsageError
from spark_tui.units import human_age, human_bytes

STOP_WAIT_S = 1.5  # how long a stopped pull waits for its transfers to notice


def _emit(event: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


def _print_plan(plan: Any) -> None:
    print(f"{plan.model} @ {plan.commit[:12]} → {plan.cache_dir}")
    for f in plan.files:
        state = "cached" if f.cached else (f"resume from {human_bytes(f.partial_bytes)}" if f.partial_bytes else
                                           "to fetch")
        print(f"  {human_bytes(f.size):>10}  {state:22} {f.path}")
    if plan.skipped:
        print(f"Skipped {len(plan.skipped)} files, {human_bytes(plan.bytes_skipped)} saved (--all to fetch them):")
        reasons: dict[str, list[Any]] = {}
        for s in plan.skipped:
            reasons.setdefault(s.reason, []).append(s)
        for reason, files in reasons.items():
            names = ", ".join(s.path for s in files[:3]) + (f" and {len(files) - 3} more" if len(files) > 3 else "")
            print(f"  {human_bytes(sum(s.size for s in files)):>10}  {reason}: {names}")
    print(f"To fetch {human_bytes(plan.bytes_to_fetch)} ({human_bytes(plan.bytes_cached)} already here); "
          f"{human_bytes(plan.free_bytes)} free on the cache's disk.")
    for note in plan.notes:
        print(f"Note: {note}")


def cmd_pull(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from spark_tui.downloads.plan import DiskFullError, make_plan, page_cache_note
    from spark_tui.hardware import resolve_hardware

    try:
        plan = make_plan(args.model, args.revision, args.include, args.exclude, args.all)
        hw = resolve_hardware("auto")
        note = page_cache_note(hw.source == "probe" and hw.unified_memory, plan.bytes_to_fetch)
        if note:
            plan = replace(plan, notes=[*plan.notes, note])
        if args.json:
            _emit(plan.to_json())
        elif args.dry_run or sys.stdout.isatty():
            _print_plan(plan)
        if not plan.fits and not args.force:
            raise DiskFullError(
                f"Not enough disk space: {human_bytes(plan.bytes_to_fetch)} to fetch plus a "
                f"{human_bytes(plan.margin_bytes)} margin, and {human_bytes(plan.free_bytes)} free on the disk of "
                f"{plan.cache_dir}.",
                "Free space (spark-tui cache prune --older-than 30d), set HF_HUB_CACHE to a bigger disk, or pass "
                "--force.")
        if args.dry_run:
            return 0
        path = _run_pull(plan, args.json)
    except SparkTuiError as error:
        if args.json:
            _emit({"event": "error", "message": error.message, **({"hint": error.hint} if error.hint else {})})
        raise
    if args.json:
        _emit({"event": "done", "model": plan.model, "revision": plan.commit, "path": str(path),
               "bytes": plan.bytes_total})
    else:
        print(f"Done: {plan.model} ({human_bytes(plan.bytes_total)}) in {path}")
        print(f"Next: spark-tui check {plan.model}   or   spark-tui serve {plan.model}")
    return 0


def _run_pull(plan: Any, as_json: bool) -> Any:
    from spark_tui.downloads.transfer import DownloadCancelled, TransferProgress, pull

    progress = TransferProgress(plan)
    cancel = threading.Event()
    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            outcome["path"] = pull(plan, progress, cancel)
        except BaseException as exc:  # handed to the main thread, which words it
            outcome["error"] = exc

    def stop_on(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt  # a closed SSH session (SIGHUP) or a kill stops the pull as Ctrl-C does

    previous = {s: signal.signal(s, stop_on) for s in (signal.SIGTERM, signal.SIGHUP)}
    worker = threading.Thread(target=work, name="pull", daemon=True)
    worker.start()
    display = _Display(as_json, sys.stdout.isatty() and not as_json)
    try:
        while worker.is_alive():
            worker.join(0.25)
            display.show(progress.snapshot())
    except KeyboardInterrupt:
        cancel.set()  # the transfers stop as the next bytes arrive
        if not as_json:
            sys.stderr.write("\nStopping… (Ctrl-C again quits at once; what arrived is kept either way)\n")
        try:
            # A stalled connection answers nothing until its read timeout: do not wait for it. The thread is a
            # daemon, and its partial files hold only bytes written in order, so leaving it loses nothing.
            worker.join(STOP_WAIT_S)
        except KeyboardInterrupt:
            # Partial files only ever grow by whole chunks and never look complete: quitting now loses nothing.
            sys.stderr.write("spark-tui: stopped; pull again to resume.\n")
            os._exit(130)
        display.finish(progress.snapshot())
        kept = progress.snapshot().bytes_done
        raise DownloadCancelled(f"Stopped; {human_bytes(kept)} of {human_bytes(plan.bytes_total)} is kept.",
                                "Run the same command to resume.") from None
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    display.finish(progress.snapshot())
    if "error" in outcome:
        raise outcome["error"]
    return outcome["path"]


class _Display:
    """A redrawn bar with the files in flight on a terminal; a line every few seconds when piped; JSON lines at
    most 4 a second with --json."""

    def __init__(self, as_json: bool, tty: bool) -> None:
        self.as_json, self.tty = as_json, tty
        self.last = 0.0
        self.lines = 0

    def show(self, snap: Any, final: bool = False) -> None:
        now = time.monotonic()
        every = 0.25 if (self.as_json or self.tty) else 2.0
        if not final and now - self.last < every:
            return
        self.last = now
        if self.as_json:
            _emit(snap.to_json())
            return
        total = snap.bytes_total or 1
        done_files = sum(f.state in ("done", "cached") for f in snap.files)
        eta = f"ETA {human_age(snap.eta_s)}" if snap.eta_s is not None else "ETA —"
        head = (f"{human_bytes(snap.bytes_done)} / {human_bytes(snap.bytes_total)} ({snap.bytes_done / total:.0%})  "
                f"{human_bytes(snap.rate_bps)}/s  {eta}  {done_files}/{len(snap.files)} files")
        if not self.tty:
            print(f"pull: {head}", flush=True)
            return
        width = 30
        filled = int(width * snap.bytes_done / total)
        lines = [f"[{'#' * filled}{'.' * (width - filled)}] {head}"]
        for f in [f for f in snap.files if f.state == "downloading"][:6]:
            lines.append(f"  {f.done / (f.size or 1):>4.0%} {human_bytes(f.size):>10}  {f.path[-60:]}")
        out = (f"\x1b[{self.lines}F" if self.lines else "") + "".join(f"\x1b[2K{line}\n" for line in lines)
        blank = max(0, self.lines - len(lines))
        out += "\x1b[2K\n" * blank  # clear what the last frame had below
        if final and blank:
            out += f"\x1b[{blank}F"  # and end right under the last line, with no gap
        sys.stdout.write(out)
        sys.stdout.flush()
        self.lines = len(lines) if final else max(self.lines, len(lines))

    def finish(self, snap: Any) -> None:
        self.show(snap, final=True)


def cmd_cache(args: argparse.Namespace) -> int:
    action = args.cache_command or "ls"
    if action == "ls":
        return _cache_ls(args)
    if action == "rm":
        return _cache_rm(args)
    return _cache_prune(args)


def _cache_ls(args: argparse.Namespace) -> int:
    from spark_tui.downloads.cache_view import partial_bytes, scan, with_verdicts
    from spark_tui.downloads.plan import free_space, hub_cache_dir
    from spark_tui.hardware import resolve_hardware
    from spark_tui.rules import load_all_rules

    revisions = with_verdicts(scan(with_metadata_only=args.all), resolve_hardware("auto"), load_all_rules().rules)
    if args.json:
        print(json.dumps([r.to_json() for r in revisions], indent=2))
        return 0
    cache = hub_cache_dir()
    if not revisions:
        print(f"Nothing in {cache}. Get a model with: spark-tui pull MODEL")
    else:
        now = time.time()
        print(f"{'MODEL':48} {'REVISION':14} {'SIZE':>10} {'USED':>8}  VERDICT")
        for r in revisions:
            rev = r.revision[:12] + ("*" if r.refs else "")
            print(f"{r.model[:48]:48} {rev:14} {human_bytes(r.size_bytes):>10} {human_age(now - r.last_accessed):>8}"
                  f"  {r.verdict or '?'}")
        print(f"\n{len(revisions)} revisions, {human_bytes(sum(r.size_bytes for r in revisions))} in {cache} "
              "(* = a branch or tag points at it)")
    partial = partial_bytes()
    if partial:
        print(f"Stopped pulls waiting to resume: {human_bytes(partial)} (pull the model again, or cache rm it).")
    print(f"Disk free: {human_bytes(free_space(cache))}")
    return 0


def _confirm(question: str, yes: bool) -> bool:
    if yes:
        return True
    if not sys.stdin.isatty():
        raise UsageError("Not deleting without a confirmation.", "Pass -y to delete without being asked.")
    return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")


def _cache_rm(args: argparse.Namespace) -> int:
    from spark_tui.downloads.cache_view import check_model_id, delete, delete_partial, partial_bytes, scan, select

    check_model_id(args.model)
    try:
        chosen = select(scan(with_metadata_only=True), args.model, args.revision)
    except UsageError:
        partial = partial_bytes(args.model) if args.revision is None else 0
        if not partial:
            raise
        # Only a stopped pull of it is here.
        if _confirm(f"Delete the unfinished pull of {args.model}, freeing {human_bytes(partial)}?", args.yes):
            delete_partial(args.model)
            print(f"Deleted; {human_bytes(partial)} freed.")
        else:
            print("Nothing deleted.")
        return 0
    freed = delete(chosen, dry_run=True)
    for r in chosen:
        print(f"  {human_bytes(r.size_bytes):>10}  {r.model} @ {r.revision[:12]}")
    if not _confirm(f"Delete {len(chosen)} revision(s), freeing {human_bytes(freed)}?", args.yes):
        print("Nothing deleted.")
        return 0
    freed = delete(chosen)
    print(f"Deleted; {human_bytes(freed)} freed.")
    return 0


def _cache_prune(args: argparse.Namespace) -> int:
    from spark_tui.downloads.cache_view import delete, parse_age, parse_size, scan, select_prune

    if args.older_than is None and args.keep_size is None:
        raise UsageError("Say what to prune.", "Pass --older-than 30d and/or --keep-size 200G.")
    doomed = select_prune(scan(), parse_age(args.older_than) if args.older_than else None,
                          parse_size(args.keep_size) if args.keep_size else None)
    if not doomed:
        print("Nothing to prune.")
        return 0
    now = time.time()
    for r in doomed:
        print(f"  {human_bytes(r.size_bytes):>10}  unused {human_age(now - r.last_accessed):>6}  {r.model} @ "
              f"{r.revision[:12]}")
    freed = delete(doomed, dry_run=True)
    if args.dry_run:
        print(f"Would free {human_bytes(freed)} (dry run).")
        return 0
    if not _confirm(f"Delete {len(doomed)} revision(s), freeing {human_bytes(freed)}?", args.yes):
        print("Nothing deleted.")
        return 0
    print(f"Deleted; {human_bytes(delete(doomed))} freed.")
    return 0


def add_parsers(sub: Any) -> None:
    pull = sub.add_parser("pull", help="download MODEL into the HF cache (disk check first; resumable)")
    pull.add_argument("model")
    pull.add_argument("--revision", metavar="R")
    pull.add_argument("--include", action="append", metavar="GLOB", help="only these files (repeatable)")
    pull.add_argument("--exclude", action="append", metavar="GLOB", help="not these files (repeatable)")
    pull.add_argument("--all", action="store_true", help="every file, duplicate weight formats too")
    pull.add_argument("--dry-run", action="store_true", help="print the plan; fetch nothing")
    pull.add_argument("--force", action="store_true", help="fetch even when the disk looks too small")
    pull.add_argument("--json", action="store_true", help="JSON lines: plan, progress, done or error")
    cache = sub.add_parser("cache", help="the local model cache: ls (default), rm, prune")
    cache_sub = cache.add_subparsers(dest="cache_command", parser_class=type(cache))
    ls = cache_sub.add_parser("ls", help="models on disk: revision, size, last used, verdict here")
    for p in (cache, ls):
        p.add_argument("--json", action="store_true")
        p.add_argument("--all", action="store_true", help="also revisions holding only config files")
    rm = cache_sub.add_parser("rm", help="delete a model (or one revision)")
    rm.add_argument("model")
    rm.add_argument("--revision", metavar="R")
    rm.add_argument("-y", "--yes", action="store_true")
    prune = cache_sub.add_parser("prune", help="delete what has not been used lately, or beyond a size")
    prune.add_argument("--older-than", metavar="AGE", help="e.g. 30d, 12h")
    prune.add_argument("--keep-size", metavar="SIZE", help="keep the most recently used up to e.g. 200G")
    prune.add_argument("--dry-run", action="store_true")
    prune.add_argument("-y", "--yes", action="store_true")

