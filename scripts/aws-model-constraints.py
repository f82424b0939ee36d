#!/usr/bin/env python3
"""Extracts, from botocore's published service models, the request
constraints of the AWS operations lbops calls, into
tests/fixtures/aws-model-constraints.json: the strict request check of the
moto tests (tests/common/aws_model.rs) reads it.

Only input shapes reachable from those operations are kept, and of each
only what constrains a request: type, required members, min/max (length,
list size or range), pattern, enum, sensitive, and each member's name on
the wire (Query and EC2 protocols rename and flatten; JSON does not).

Pinned: it refuses any botocore but PINNED_BOTOCORE (the one scripts/test
installs beside moto 5.2.5 into target/moto-venv), so the fixture changes
only on purpose; scripts/test runs it with --check.

    target/moto-venv/bin/python scripts/aws-model-constraints.py          # write
    target/moto-venv/bin/python scripts/aws-model-constraints.py --check  # compare

A new SDK call in src/provider/aws fails the strict check ("not in the
fixture") until it is added to OPERATIONS below and this is run again.
"""
import argparse
import gzip
import json
import os
import sys

PINNED_BOTOCORE = "1.44.18"
FIXTURE = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures",
    "aws-model-constraints.json")

# Every operation src/provider/aws calls, by botocore service name.
OPERATIONS = {
    "elbv2": [
        "AddListenerCertificates", "AddTags", "CreateListener",
        "CreateLoadBalancer", "CreateRule", "CreateTargetGroup",
        "DeleteListener", "DeleteLoadBalancer", "DeleteRule",
        "DeleteTargetGroup", "DeregisterTargets",
        "DescribeListenerCertificates", "DescribeListeners",
        "DescribeLoadBalancers", "DescribeRules", "DescribeTags",
        "DescribeTargetGroupAttributes", "DescribeTargetGroups",
        "DescribeTargetHealth", "ModifyListener", "ModifyRule",
        "ModifyTargetGroup", "ModifyTargetGroupAttributes",
        "RegisterTargets", "RemoveListenerCertificates",
        "SetIpAddressType", "SetRulePriorities",
    ],
    "acm": [
        "AddTagsToCertificate", "DeleteCertificate", "DescribeCertificate",
        "ImportCertificate", "ListCertificates", "ListTagsForCertificate",
    ],
    "ec2": ["AllocateAddress", "DescribeAddresses", "DescribeVpcs", "ReleaseAddress"],
}

KEPT = ("min", "max", "pattern", "enum", "sensitive")


def load_model(data, service):
    folder = os.path.join(data, service)
    version = sorted(os.listdir(folder))[-1]
    for name in ("service-2.json.gz", "service-2.json"):
        path = os.path.join(folder, version, name)
        if os.path.exists(path):
            opener = gzip.open if path.endswith(".gz") else open
            with opener(path, "rt", encoding="utf-8") as f:
                return json.load(f)
    sys.exit(f"no service-2.json for {service} in {folder}/{version}")


def capitalize(name):
    return name[:1].upper() + name[1:]


def wire_name(protocol, name, member):
    """A member's name on the wire, as botocore's serializers derive it."""
    if protocol == "ec2":
        if "queryName" in member:
            return member["queryName"]
        if "locationName" in member:
            return capitalize(member["locationName"])
        return name
    return member.get("locationName", name)


def extract(model, operations):
    protocol = model["metadata"]["protocol"]
    shapes = model["shapes"]
    out = {}

    def visit(name):
        if name in out:
            return
        shape = shapes[name]
        kind = shape["type"]
        entry = {"type": kind}
        entry.update({k: shape[k] for k in KEPT if k in shape})
        out[name] = entry
        if kind == "structure":
            entry["required"] = shape.get("required", [])
            entry["members"] = {
                m: {"shape": s["shape"], "wire": wire_name(protocol, m, s)}
                for m, s in shape["members"].items()
            }
            for s in shape["members"].values():
                visit(s["shape"])
        elif kind == "list":
            member = shape["member"]
            entry["member"] = member["shape"]
            if protocol == "query":
                # `Name.member.N`, or `Name.N` when flattened.
                entry["item"] = None if shape.get("flattened") else member.get("locationName", "member")
            else:
                entry["item"] = None
            visit(member["shape"])
        elif kind == "map":
            entry["key"] = shape["key"]["shape"]
            entry["value"] = shape["value"]["shape"]
            if protocol == "query":
                # `Name.entry.N.key` and `Name.entry.N.value`.
                entry["item"] = None if shape.get("flattened") else "entry"
                entry["key_wire"] = shape["key"].get("locationName", "key")
                entry["value_wire"] = shape["value"].get("locationName", "value")
            elif protocol != "json":
                sys.exit(f"{name}: maps are not handled in {protocol}")
            visit(entry["key"])
            visit(entry["value"])

    ops = {}
    for op in operations:
        spec = model["operations"][op]
        if "input" in spec:
            ops[op] = spec["input"]["shape"]
            visit(spec["input"]["shape"])
        else:
            ops[op] = None
    meta = model["metadata"]
    return {
        "protocol": protocol,
        "api_version": meta["apiVersion"],
        "target_prefix": meta.get("targetPrefix"),
        "operations": ops,
        "shapes": dict(sorted(out.items())),
    }


def render(doc):
    # One shape per line: reviewable diffs, a small file.
    lines = ["{"]
    lines.append(f' "generator": {json.dumps(doc["generator"])},')
    lines.append(f' "botocore": {json.dumps(doc["botocore"])},')
    lines.append(' "services": {')
    services = list(doc["services"].items())
    for i, (name, svc) in enumerate(services):
        lines.append(f'  {json.dumps(name)}: {{')
        for key in ("protocol", "api_version", "target_prefix"):
            lines.append(f'   {json.dumps(key)}: {json.dumps(svc[key])},')
        lines.append(f'   "operations": {json.dumps(svc["operations"], sort_keys=True)},')
        lines.append('   "shapes": {')
        shapes = list(svc["shapes"].items())
        for j, (sname, shape) in enumerate(shapes):
            comma = "," if j + 1 < len(shapes) else ""
            lines.append(f'    {json.dumps(sname)}: {json.dumps(shape, sort_keys=True, ensure_ascii=False)}{comma}')
        lines.append("   }")
        lines.append("  }" + ("," if i + 1 < len(services) else ""))
    lines.append(" }")
    lines.append("}")
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="fail if the checked-in fixture differs")
    args = parser.parse_args()
    import botocore
    if botocore.__version__ != PINNED_BOTOCORE:
        sys.exit(f"botocore {botocore.__version__}, not the pinned {PINNED_BOTOCORE}: "
                 "change PINNED_BOTOCORE on purpose, then regenerate")
    data = os.path.join(os.path.dirname(botocore.__file__), "data")
    doc = {
        "generator": "scripts/aws-model-constraints.py",
        "botocore": botocore.__version__,
        "services": {s: extract(load_model(data, s), ops) for s, ops in OPERATIONS.items()},
    }
    text = render(doc)
    json.loads(text)
    if args.check:
        with open(FIXTURE, encoding="utf-8") as f:
            if f.read() != text:
                sys.exit(f"{FIXTURE} is stale: run {sys.argv[0]}")
        return
    with open(FIXTURE, "w", encoding="utf-8") as f:
        f.write(text)


if __name__ == "__main__":
    main()
