"""Holds infra/template.yaml to infra/functions.json, the one table of what each function is.

For every function in the table: the template deploys it from its crate's binary; it sets
every environment variable the code reads (and no other RULEKIT_* variable); its role grants
exactly the table's actions (what the code calls, what those calls imply, and the platform's
logs and traces), each statement on the one resource the table names, never a wildcard action,
and `*` resources only for X-Ray (which has no resource-level permissions). Every function in
the template is in the table.

Usage: python infra/check_template.py   (needs cfn-lint, whose loader reads the !Ref tags)
Exit status 1 with one line per problem.
"""

import json
import pathlib
import sys

from cfnlint.decode import decode

ROOT = pathlib.Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "infra" / "template.yaml"
TABLE = ROOT / "infra" / "functions.json"


def references(value):
    """The logical ids a CloudFormation value refers to (Ref, GetAtt, Sub)."""
    found = set()
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "Ref":
                found.add(str(inner))
            elif key == "Fn::GetAtt":
                target = inner[0] if isinstance(inner, list) else str(inner).split(".")[0]
                found.add(str(target))
            elif key == "Fn::Sub":
                text = inner[0] if isinstance(inner, list) else inner
                for part in str(text).split("${")[1:]:
                    found.add(part.split("}")[0].split(".")[0])
            else:
                found |= references(inner)
    elif isinstance(value, list):
        for inner in value:
            found |= references(inner)
    return {r for r in found if not r.startswith("AWS::")}


def as_list(value):
    return value if isinstance(value, list) else [value]


def check():
    template, matches = decode(str(TEMPLATE))
    if matches or template is None:
        return [f"template does not load: {m}" for m in matches] or ["template does not load"]
    table = json.loads(TABLE.read_text())
    resources = template["Resources"]
    globals_env = template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    platform = set(table["platform"])
    problems = []

    deployed = {name for name, r in resources.items() if r["Type"] == "AWS::Serverless::Function"}
    for name in sorted(deployed - set(table["functions"])):
        problems.append(f"{name}: deployed by the template but not in infra/functions.json")

    for name, spec in table["functions"].items():
        resource = resources.get(name)
        if resource is None or resource["Type"] != "AWS::Serverless::Function":
            problems.append(f"{name}: not a function in the template")
            continue
        props = resource["Properties"]

        # Its crate and binary.
        binary = resource.get("Metadata", {}).get("BuildProperties", {}).get("Binary")
        if binary != spec["binary"]:
            problems.append(f"{name}: builds binary {binary!r}, the table says {spec['binary']!r}")
        manifest = ROOT / spec["crate"] / "Cargo.toml"
        if not manifest.is_file():
            problems.append(f"{name}: crate {spec['crate']} has no Cargo.toml")
        elif f'name = "{spec["binary"]}"' not in manifest.read_text():
            problems.append(f"{name}: {spec['crate']} has no binary {spec['binary']!r}")
        if (ROOT / "infra" / props.get("CodeUri", "")).resolve() != ROOT:
            problems.append(f"{name}: CodeUri must be the workspace root (..)")

        # Its environment.
        env = set(globals_env) | set(props.get("Environment", {}).get("Variables", {}))
        for missing in sorted(set(spec["env"]) - env):
            problems.append(f"{name}: reads {missing}, which the template does not set")
        for extra in sorted(v for v in env - set(spec["env"]) if v.startswith("RULEKIT_")):
            problems.append(f"{name}: the template sets {extra}, which the code does not read")

        # Its role: exactly the table's actions, each on its resource.
        role_ids = references(props.get("Role"))
        if len(role_ids) != 1 or next(iter(role_ids)) not in resources:
            problems.append(f"{name}: needs its own role (Role: !GetAtt <Role>.Arn)")
            continue
        role_id = next(iter(role_ids))
        users = [n for n in deployed if references(resources[n]["Properties"].get("Role")) == {role_id}]
        if users != [name]:
            problems.append(f"{name}: role {role_id} is shared with {sorted(set(users) - {name})}")
        role = resources[role_id]["Properties"]
        if role.get("ManagedPolicyArns"):
            problems.append(f"{name}: role {role_id} has managed policies; grant in its own policy")
        expected = {}
        for group, actions in list(spec["actions"].items()) + list(spec["implied"].items()):
            expected.setdefault(group, set()).update(actions)
        granted = {}
        for policy in role.get("Policies", []):
            for statement in policy["PolicyDocument"]["Statement"]:
                actions = set(as_list(statement["Action"]))
                where = f"{name}: statement {statement.get('Sid', '?')}"
                if statement.get("Effect") != "Allow":
                    problems.append(f"{where}: only Allow statements are expected")
                for action in actions:
                    if "*" in action:
                        problems.append(f"{where}: wildcard action {action}")
                if actions <= platform:
                    if statement["Resource"] == "*" and not all(a.startswith("xray:") for a in actions):
                        problems.append(f"{where}: * resource for {sorted(actions)}")
                    granted.setdefault("platform", set()).update(actions)
                    continue
                group = next((g for g in expected if g.replace("_", "") == statement.get("Sid")), None)
                if group is None:
                    problems.append(f"{where}: grants {sorted(actions)}, which no table entry names")
                    continue
                granted.setdefault(group, set()).update(actions)
                targets = references(statement["Resource"])
                if "*" in as_list(statement["Resource"]) or targets != {table["resources"][group]}:
                    problems.append(
                        f"{where}: resource {sorted(targets) or statement['Resource']}, "
                        f"expected only {table['resources'][group]}"
                    )
        for group in sorted(set(expected) | set(granted) - {"platform"}):
            want, have = expected.get(group, set()), granted.get(group, set())
            if want != have:
                problems.append(
                    f"{name}: {group} grants {sorted(have)}, the table says {sorted(want)}"
                )
        if granted.get("platform", set()) != platform:
            problems.append(f"{name}: platform grants {sorted(granted.get('platform', set()))}")
    return problems


if __name__ == "__main__":
    found = check()
    for line in found:
        print(line)
    if found:
        sys.exit(1)
    print(f"{TEMPLATE.relative_to(ROOT)} holds to {TABLE.relative_to(ROOT)}")
