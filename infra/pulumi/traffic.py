"""Change a declared canary split (resources.yaml `traffic`), the one source both Pulumi and the local gateway read.

    python -m infra.pulumi.traffic rollback search          # everything to the stable revision (share 0)
    python -m infra.pulumi.traffic set search 10            # the candidate gets 10%
    python -m infra.pulumi.traffic show

The local gateway re-reads the file when it changes, so a rollback takes effect on its next request; in the
cloud the same edit is applied by `pulumi up` (cloudbuild.yaml's deploy). The edit is textual (only the number on
the function's `candidate_percent:` line changes), so the file's comments and layout stay as they are.
--declaration points at another copy of the file (tests).
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from infra.pulumi.declaration import DECLARATION_FILE, read_traffic


def set_share(function: str, percent: int, path: Path = DECLARATION_FILE) -> int:
    """Set `function`'s candidate share in the file; returns the previous share. KeyError if it has no split."""
    if not 0 <= percent <= 100:
        raise ValueError(f"a share is 0-100, not {percent}")
    before = read_traffic(path)
    if function not in before:
        raise KeyError(f"{function} has no declared traffic split in {path}")
    text = Path(path).read_text()
    pattern = re.compile(r"(-\s+function:\s*" + re.escape(function) + r"\s*\n\s+candidate_percent:\s*)(\d+)")
    new, n = pattern.subn(lambda m: f"{m.group(1)}{percent}", text)
    if n != 1:
        raise ValueError(f"cannot find {function}'s candidate_percent line in {path} (keep `function:` first)")
    tmp = Path(path).with_suffix(".tmp")
    tmp.write_text(new)
    tmp.replace(path)   # atomic: a reader sees the old file or the new one, never half of it
    if read_traffic(path)[function] != percent:
        raise RuntimeError("the edit did not take; the file is unchanged in meaning")
    return before[function]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.pulumi.traffic", description=__doc__.splitlines()[0])
    parser.add_argument("--declaration", type=Path, default=DECLARATION_FILE)
    sub = parser.add_subparsers(dest="command", required=True)
    rb = sub.add_parser("rollback", help="send everything to the stable revision")
    rb.add_argument("function")
    st = sub.add_parser("set", help="set the candidate's share")
    st.add_argument("function")
    st.add_argument("percent", type=int)
    sub.add_parser("show")
    args = parser.parse_args(argv)
    if args.command == "show":
        for function, share in read_traffic(args.declaration).items():
            print(f"{function}: candidate {share}%, stable {100 - share}%")
        return 0
    percent = 0 if args.command == "rollback" else args.percent
    try:
        previous = set_share(args.function, percent, args.declaration)
    except (KeyError, ValueError) as exc:
        print(f"traffic: {exc}", file=sys.stderr)
        return 2
    print(f"{args.function}: candidate {previous}% -> {percent}% (stable {100 - percent}%)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
