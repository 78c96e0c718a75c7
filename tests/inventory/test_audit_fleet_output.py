"""`audit` on an undeployed fleet (issue 26, item 6): the terminal table leads with counts and
folds identical findings into one line; `--all` (and csv/json) print every finding."""

from __future__ import annotations

import json

from xaccount_ops.cli import main

GROUPS = [f"/aws/lambda/svc-{n}" for n in range(6)]


def test_audit_table_folds_identical_findings(make_fleet, new_account, moto_endpoint, capsys):
    accounts = [new_account(), new_account()]
    fleet = make_fleet(moto_endpoint, accounts=accounts)
    for account in accounts:
        for region in fleet.regions:
            logs = fleet.client("logs", account, region)
            for group in GROUPS:
                logs.create_log_group(logGroupName=group)
    base = ["--config", str(fleet.config.path), "audit"]

    code = main([*base, "--format", "json"])
    every = json.loads(capsys.readouterr().out)
    assert code == 1  # no stack: errors
    assert len(every) > 2 * len(GROUPS)  # one finding per group and target, at least

    main(base)
    table = capsys.readouterr().out
    assert "Exceptions (identical ones folded):" in table
    assert f"({len(every)} row(s); --all prints every one)" in table
    assert len(table.splitlines()) < len(every)  # shorter than the findings it sums up
    not_shipping = [f for f in every if f["check"] == "not-shipping"]
    assert len(not_shipping) == 2 * 2 * len(GROUPS)
    # 24 identical findings: once in the counts, once folded (with how many, and where).
    assert table.count("not-shipping") == 2
    assert "eu-west-1, us-east-1" in table

    main([*base, "--all"])
    assert len(capsys.readouterr().out.splitlines()) >= len(every) + 2  # header, rule, rows
