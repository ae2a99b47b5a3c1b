"""concierge-stack: run the local stack.

  concierge-stack up [--foreground] [--no-scheduler]   start everything, print the gateway URL and health
  concierge-stack status                               what is running, per process
  concierge-stack down                                 stop exactly what `up` started
  concierge-stack env                                  print the stack's settings as shell exports
  concierge-stack run-job NAME [ARGS...]               run a Cloud Run Job's entry point against the stack
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time

from emulators.procs import StackError
from emulators.stack import Stack


def print_health(stack: Stack) -> int:
    import httpx

    resp = httpx.get(f"{stack.gateway_url}/v1/health", timeout=10)
    body = resp.json()
    print(f"gateway: {stack.gateway_url}   (API docs: {stack.gateway_url}/docs)")
    for name, state in body.get("dependencies", {}).items():
        detail = f"{state.get('latency_ms')} ms" if state["status"] == "up" else state.get("error", "")
        print(f"  {name:<9} {state['status']:<5} {detail}")
    return 0 if resp.status_code == 200 else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="concierge-stack", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up")
    up.add_argument("--foreground", action="store_true", help="stay attached; Ctrl-C stops everything")
    up.add_argument("--no-scheduler", action="store_true", help="do not fire the declared schedules")
    sub.add_parser("down")
    sub.add_parser("status")
    sub.add_parser("env")
    run_job = sub.add_parser("run-job")
    run_job.add_argument("job")
    run_job.add_argument("args", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)

    stack = Stack()
    try:
        if args.command == "up":
            stack.scheduler = not args.no_scheduler
            stack.up()
            code = print_health(stack)
            if not args.foreground:
                print("stop it with: concierge-stack down")
                return code
            print("running in the foreground; Ctrl-C stops everything")
            signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
            try:
                while True:
                    time.sleep(1)
            except KeyboardInterrupt:
                stack.down()
            return 0
        if args.command == "down":
            stack.down()
            return 0
        if args.command == "status":
            state = stack.status()
            if not state["running"]:
                print("the stack is not running (start it with: concierge-stack up)")
                return 1
            for proc in state["processes"]:
                print(f"  {proc['name']:<28} pid {proc['pid']:<8} port {proc['port'] or '-':<6} {'alive' if proc['alive'] else 'DEAD'}")
            return print_health(stack)
        if args.command == "env":
            if not stack.env:
                print("the stack is not running (start it with: concierge-stack up)", file=sys.stderr)
                return 1
            for key, value in sorted(stack.env.items()):
                print(f"export {key}={json.dumps(value)}")
            return 0
        if args.command == "run-job":
            if not stack.env:
                print("the stack is not running (start it with: concierge-stack up)", file=sys.stderr)
                return 1
            env = {**os.environ, **stack.env}
            return subprocess.call([sys.executable, "-m", f"jobs.{args.job}.main", *args.args], env=env)
    except StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
