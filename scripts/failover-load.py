#!/usr/bin/env python3
"""The write load and the checks of scripts/failover (docs/deployment.md, "PostgreSQL failover").

load:   creates a program, a merchant and one customer per worker through the native API, then
        each worker earns 1.00 point at a time under idempotency keys fo-WORKER-SEQ at a bounded
        rate, repeating a request under its key until it is acknowledged (503, lost connections
        and timeouts are retried), and records every acknowledgement. On the stop file it
        finishes the request in hand, so every key sent is acknowledged.
report: checks the acknowledgements against the operations stored on the new primary and
        kopilka's ledger audit, and prints the figures; exits non-zero when a check fails.
"""

import argparse
import json
import os
import sys
import threading
import time
import urllib.error
import urllib.request

POINTS_MINOR = 100  # each earn: 1.00 point


def call(url, token, method, path, body=None, timeout=10.0):
    """(status, JSON body); raises OSError (URLError, timeouts) when there is no answer."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url + path, data=data, method=method)
    request.add_header("Authorization", "Bearer " + token)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return answer.status, json.loads(answer.read() or b"null")
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read() or b"null")


def created(url, token, path, body):
    status, answer = call(url, token, "POST", path, body)
    if status not in (200, 201):
        sys.exit(f"POST {path}: {status} {answer}")
    return answer["id"]


def load(args):
    program = created(args.url, args.token, "/v1/programs",
                      {"code": f"failover{int(time.time())}", "name": "Failover"})
    merchant = created(args.url, args.token, "/v1/merchants",
                       {"program_id": program, "name": "Failover shop"})
    customers = [created(args.url, args.token, "/v1/customers", {"program_id": program})
                 for _ in range(args.workers)]
    with open(args.customers, "w") as out:
        json.dump(customers, out)
    acks = open(args.acks, "w")
    lock = threading.Lock()
    retries = {}
    unexpected = []
    interval = args.workers / args.rate

    def worker(number, customer):
        seq = 0
        while not os.path.exists(args.stop):
            started = time.monotonic()
            key = f"fo-{number}-{seq}"
            body = {"kind": "earn", "customer_id": customer, "merchant_id": merchant,
                    "amount": "1.00", "idempotency_key": key}
            sent = time.time()
            while True:
                try:
                    status, answer = call(args.url, args.token, "POST", "/v1/operations", body,
                                          timeout=args.request_timeout)
                except OSError as lost:
                    why = type(lost).__name__
                else:
                    if status in (200, 201):
                        break
                    if status != 503:
                        with lock:
                            unexpected.append(f"{key}: {status} {answer}")
                        return
                    why = "503 " + answer["error"]["code"]
                with lock:
                    retries[why] = retries.get(why, 0) + 1
                time.sleep(0.1)
            with lock:
                acks.write(json.dumps({"key": key, "id": answer["id"], "customer": customer,
                                       "sent": sent, "acked": time.time()}) + "\n")
            seq += 1
            time.sleep(max(0.0, interval - (time.monotonic() - started)))

    threads = [threading.Thread(target=worker, args=(n, c)) for n, c in enumerate(customers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    acks.close()
    print(json.dumps({"retries": retries, "unexpected": unexpected}))
    if unexpected:
        sys.exit(1)


def report(args):
    acks = [json.loads(line) for line in open(args.acks)]
    stored = {}
    for line in open(args.stored):
        key, op_id, amount = line.rstrip("\n").split("\t")
        stored[key] = (int(op_id), int(amount))
    killed, promoted = float(args.killed_at), float(args.promoted_at)
    failures = []

    missing = [a["key"] for a in acks if stored.get(a["key"], (None,))[0] != a["id"]]
    if missing:
        failures.append(f"{len(missing)} acknowledged operations missing or changed: {missing[:10]}")
    unacked = sorted(set(stored) - {a["key"] for a in acks})
    if unacked:
        failures.append(f"{len(unacked)} stored operations never acknowledged: {unacked[:10]}")
    if any(amount != POINTS_MINOR for _, amount in stored.values()):
        failures.append("a stored earn of another amount than 1.00")

    status, audit = call(args.url, args.token, "GET", "/v1/ledger/audit")
    if status != 200 or audit.get("mismatched_accounts") != []:
        failures.append(f"ledger audit: {status} {audit}")
    per_customer = {}
    for a in acks:
        per_customer[a["customer"]] = per_customer.get(a["customer"], 0) + POINTS_MINOR
    for customer in json.load(open(args.customers)):
        status, balances = call(args.url, args.token, "GET", f"/v1/customers/{customer}/balances")
        balance = balances[0]["balance_minor"] if isinstance(balances, list) and balances else 0
        if balance != per_customer.get(customer, 0):
            failures.append(f"customer {customer}: balance {balance}, acknowledged "
                            f"{per_customer.get(customer, 0)}")

    times = sorted(a["acked"] for a in acks)
    before = [t for t in times if t <= killed]
    after = [t for t in times if t > promoted]
    gaps = [(b - a, a) for a, b in zip(times, times[1:])]
    longest, longest_from = max(gaps) if gaps else (0.0, killed)
    slowest = max(acks, key=lambda a: a["acked"] - a["sent"]) if acks else None
    figures = {
        "acknowledged": len(acks),
        "acknowledged_before_kill": len(before),
        "acknowledged_after_promotion": len(after),
        "stored": len(stored),
        "promoted_after_kill_s": round(promoted - killed, 2),
        "time_without_writes_s": round(longest, 2),
        "writes_stopped_after_kill_s": round(longest_from - killed, 2),
        "first_ack_after_promotion_s": round(after[0] - promoted, 2) if after else None,
        "slowest_request_s": round(slowest["acked"] - slowest["sent"], 2) if slowest else None,
        "audit_mismatched_accounts": audit.get("mismatched_accounts"),
    }
    print(json.dumps(figures, indent=2))
    if failures:
        print("FAILED:\n  " + "\n  ".join(failures))
        sys.exit(1)
    print("OK: every acknowledged operation is on the new primary, nothing else is, "
          "balances match, the audit is clean")


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--acks", required=True, help="JSON lines, one per acknowledgement")
    parser.add_argument("--customers", required=True, help="the load's customer ids (JSON)")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("load")
    run.add_argument("--workers", type=int, default=8)
    run.add_argument("--rate", type=float, default=100.0, help="earns a second, all workers")
    run.add_argument("--request-timeout", type=float, default=40.0)
    run.add_argument("--stop", required=True, help="the load stops when this file exists")
    check = sub.add_parser("report")
    check.add_argument("--stored", required=True, help="idem_key, id, amount (tab-separated)")
    check.add_argument("--killed-at", required=True)
    check.add_argument("--promoted-at", required=True)
    args = parser.parse_args()
    load(args) if args.command == "load" else report(args)


if __name__ == "__main__":
    main()
