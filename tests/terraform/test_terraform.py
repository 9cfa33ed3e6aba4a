"""The terraform module, parsed (python-hcl2) and checked for the properties the deployment
promises: both web ACLs attached, buckets private, no wildcard actions allowed in IAM, 30-day
log retention, deletion protection, and a task role that allows exactly the AWS calls
meetstage's code makes. No AWS account or provider download is needed.

Run: python -m unittest discover -s tests/terraform (scripts/test does, in a venv).
"""

import ast
import glob
import os
import re
import unittest

import hcl2

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
TF = os.path.join(ROOT, "terraform")


def load_all(root=TF, skip=("bootstrap",)):
    """Every .tf file under `root` merged: {block kind: [{type: {name: body}}]} with the file's
    name. The state bucket's module (bootstrap/) is applied on its own and read on its own."""
    merged = {}
    for path in sorted(glob.glob(os.path.join(root, "**", "*.tf"), recursive=True)):
        if os.path.relpath(path, root).split(os.sep)[0] in skip:
            continue
        with open(path) as f:
            parsed = hcl2.load(f)
        for kind, items in parsed.items():
            for item in items:
                merged.setdefault(kind, []).append((os.path.relpath(path, TF), item))
    return merged


CONFIG = load_all()


def blocks(kind, type_):
    """(name, body) of every `kind "type_" "name"` block (resources, data sources)."""
    out = []
    for _, item in CONFIG.get(kind, []):
        for t, named in item.items():
            if t == type_:
                out.extend(named.items())
    return out


def resources(type_):
    return blocks("resource", type_)


def one(body, key):
    """hcl2 wraps every attribute's value in a list."""
    value = body[key]
    return value[0] if isinstance(value, list) and len(value) == 1 else value


def jsonencoded(value):
    """The object inside "${jsonencode({...})}", as Python data."""
    m = re.fullmatch(r"\$\{jsonencode\((.*)\)\}", value, re.S)
    assert m, value
    return ast.literal_eval(m.group(1))


def statements():
    """Every IAM-style policy statement in the module, as (where, effect, actions)."""
    found = []
    for name, body in blocks("data", "aws_iam_policy_document"):
        for st in body.get("statement", []):
            effect = one(st, "effect") if "effect" in st else "Allow"
            found.append((f"policy document {name}", effect, one(st, "actions")))
    for _, item in CONFIG.get("resource", []):
        for type_, named in item.items():
            for name, body in named.items():
                for key in ("policy", "assume_role_policy"):
                    raw = body.get(key)
                    if not raw or "jsonencode" not in str(raw[0]):
                        continue
                    # Not every "policy" is IAM (an ECR lifecycle policy has rules).
                    for st in jsonencoded(one(body, key)).get("Statement", []):
                        actions = st["Action"]
                        if isinstance(actions, str):
                            actions = [actions]
                        found.append((f"{type_}.{name}", st["Effect"], actions))
    return found


class Terraform(unittest.TestCase):
    def test_both_web_acls_are_attached(self):
        calls = {}
        for _, item in CONFIG["module"]:
            calls.update(item)
        self.assertEqual(one(calls["waf_alb"], "scope"), "REGIONAL")
        self.assertEqual(one(calls["waf_cdn"], "scope"), "CLOUDFRONT")
        self.assertEqual(one(calls["waf_cdn"], "providers"), {"aws": "${aws.us_east_1}"})
        (assoc_name, assoc), = resources("aws_wafv2_web_acl_association")
        self.assertEqual(one(assoc, "resource_arn"), "${aws_lb.main.arn}")
        self.assertEqual(one(assoc, "web_acl_arn"), "${module.waf_alb.arn}")
        (_, cdn), = resources("aws_cloudfront_distribution")
        self.assertEqual(one(cdn, "web_acl_id"), "${module.waf_cdn.arn}")
        # The shared ACL carries the three managed rule groups and a rate rule, and logs.
        with open(os.path.join(TF, "modules", "web_acl", "main.tf")) as f:
            text = f.read()
        for group in (
            "AWSManagedRulesCommonRuleSet",
            "AWSManagedRulesSQLiRuleSet",
            "AWSManagedRulesKnownBadInputsRuleSet",
        ):
            self.assertIn(f'"{group}"', text)
        (_, acl), = resources("aws_wafv2_web_acl")
        rate = [r for r in acl["rule"] if one(r, "name") == "rate-per-ip"]
        self.assertEqual(len(rate), 1)
        self.assertEqual(len(resources("aws_wafv2_web_acl_logging_configuration")), 1)
        # A talk about code may describe code: on the site's ACL only the body rules count
        # (paths, queries and headers are still blocked), and the rate limit is the operator's.
        counted = one(calls["waf_alb"], "count_rules")
        self.assertEqual(
            set(counted["AWSManagedRulesSQLiRuleSet"]), {"SQLi_BODY", "SQLiExtendedPatterns_BODY"}
        )
        for rule in counted["AWSManagedRulesCommonRuleSet"]:
            self.assertTrue(rule.endswith("_BODY"), rule)
        self.assertIn("CrossSiteScripting_BODY", counted["AWSManagedRulesCommonRuleSet"])
        self.assertNotIn("count_rules", calls["waf_cdn"])
        self.assertEqual(one(calls["waf_alb"], "rate_limit_per_5_min"), "${var.rate_limit_per_5_min}")

    def test_buckets_are_private_and_recordings_age_into_cheaper_storage(self):
        buckets = {name for name, _ in resources("aws_s3_bucket")}
        self.assertEqual(buckets, {"recordings", "logs"})
        blocked = {}
        for name, body in resources("aws_s3_bucket_public_access_block"):
            flags = [
                one(body, k)
                for k in (
                    "block_public_acls",
                    "block_public_policy",
                    "ignore_public_acls",
                    "restrict_public_buckets",
                )
            ]
            self.assertEqual(flags, [True] * 4, name)
            blocked[name] = one(body, "bucket")
        self.assertEqual(
            blocked, {b: f"${{aws_s3_bucket.{b}.id}}" for b in buckets}
        )
        for name in buckets:
            self.assertNotIn("acl", dict(resources("aws_s3_bucket"))[name])
        encrypted = {n for n, _ in resources("aws_s3_bucket_server_side_encryption_configuration")}
        self.assertEqual(encrypted, buckets)
        # Only CloudFront (for this distribution) reads recordings; nobody public.
        for name, body in resources("aws_s3_bucket_policy"):
            for st in jsonencoded(one(body, "policy"))["Statement"]:
                if st["Effect"] == "Allow":
                    self.assertNotEqual(st["Principal"], "*", name)
                    self.assertNotIn("*", str(st["Principal"].get("AWS", "")), name)
        (_, oac), = resources("aws_cloudfront_origin_access_control")
        self.assertEqual(one(oac, "signing_behavior"), "always")
        lifecycle = dict(resources("aws_s3_bucket_lifecycle_configuration"))["recordings"]
        transitions = [
            (one(t, "days"), one(t, "storage_class")) for t in one(lifecycle, "rule")["transition"]
        ]
        # Every class CloudFront can read without a restore, so old replays keep playing.
        self.assertEqual(transitions, [(30, "STANDARD_IA"), (90, "GLACIER_IR")])

    def test_ivs_composition_may_write_whatever_terraform_applies_later(self):
        policy = jsonencoded(one(dict(resources("aws_s3_bucket_policy"))["recordings"], "policy"))
        writes = [
            st
            for st in policy["Statement"]
            if st["Effect"] == "Allow"
            and st["Principal"].get("Service") == "ivs-composite.${var.region}.amazonaws.com"
        ]
        self.assertEqual(len(writes), 1, policy)
        self.assertEqual(writes[0]["Action"], ["s3:PutObject", "s3:PutObjectAcl"])
        self.assertEqual(
            writes[0]["Condition"]["StringEquals"], {"s3:x-amz-acl": "bucket-owner-full-control"}
        )
        (_, storage), = resources("awscc_ivs_storage_configuration")
        self.assertEqual(storage["depends_on"], [["${aws_s3_bucket_policy.recordings}"]])

    def test_no_wildcard_actions_are_allowed(self):
        found = statements()
        self.assertGreater(len(found), 8)
        for where, effect, actions in found:
            if effect != "Allow":
                continue
            for action in actions:
                self.assertNotEqual(action, "*", where)
                self.assertFalse(action.endswith(":*"), f"{where}: {action}")

    def test_the_task_role_allows_exactly_the_calls_meetstage_makes(self):
        allowed = set()
        for name, body in blocks("data", "aws_iam_policy_document"):
            if name == "task":
                for st in body["statement"]:
                    allowed.update(one(st, "actions"))
        called = set()
        # S3's operations and the IAM actions that authorise them differ in name.
        s3_actions = {
            "s3:ListObjectsV2": "s3:ListBucket",
            "s3:DeleteObjects": "s3:DeleteObject",
        }
        for path, prefix in (
            ("src/media/ivs/mod.rs", "ivs"),
            ("src/chat/ivs.rs", "ivschat"),
            ("src/mail/ses.rs", "ses"),
            ("src/media/recording/storage.rs", "s3"),
        ):
            full = os.path.join(ROOT, path)
            if not os.path.exists(full):
                continue
            with open(full) as f:
                source = f.read()
            for op in re.findall(r"\bclient\s*\.\s*([a-z_0-9]+)\(\)", source):
                if op == "clone":
                    continue
                action = prefix + ":" + "".join(w.title() for w in op.split("_"))
                called.add(s3_actions.get(action, action))
        self.assertIn("ivs:CreateStage", called)
        self.assertIn("s3:ListBucket", called)
        # Tagging on create needs TagResource; SES v2's SendEmail with raw content is
        # authorised as ses:SendRawEmail too.
        implied = {"ivs:TagResource", "ses:SendRawEmail"}
        if any(a.startswith("ivschat:") for a in called):
            implied.add("ivschat:TagResource")
        self.assertEqual(allowed, called | implied)

    def test_logs_are_kept_thirty_days(self):
        groups = resources("aws_cloudwatch_log_group")
        self.assertGreaterEqual(len(groups), 3)
        for name, body in groups:
            self.assertEqual(one(body, "retention_in_days"), 30, name)
        (_, task), = resources("aws_ecs_task_definition")
        containers = jsonencoded(one(task, "container_definitions"))
        self.assertEqual(containers[0]["logConfiguration"]["logDriver"], "awslogs")

    def test_nothing_is_deleted_by_accident(self):
        (_, db), = resources("aws_db_instance")
        self.assertIs(one(db, "deletion_protection"), True)
        self.assertIs(one(db, "storage_encrypted"), True)
        self.assertIs(one(db, "publicly_accessible"), False)
        self.assertIs(one(db, "skip_final_snapshot"), False)
        self.assertGreaterEqual(one(db, "backup_retention_period"), 7)
        (_, lb), = resources("aws_lb")
        self.assertIs(one(lb, "enable_deletion_protection"), True)

    def test_long_events_and_graceful_deploys(self):
        (_, lb), = resources("aws_lb")
        self.assertGreaterEqual(one(lb, "idle_timeout"), 3600)
        (_, tg), = resources("aws_lb_target_group")
        self.assertEqual(one(tg, "deregistration_delay"), "${var.shutdown_grace_seconds}")
        self.assertEqual(one(one(tg, "health_check"), "path"), "/readyz")
        (_, task), = resources("aws_ecs_task_definition")
        container = jsonencoded(one(task, "container_definitions"))[0]
        self.assertEqual(container["stopTimeout"], "${var.shutdown_grace_seconds + 5}")
        secrets = {s["name"] for s in container["secrets"]}
        self.assertEqual(
            secrets,
            {
                "DATABASE_URL",
                "MEETSTAGE_SECRET_KEY",
                "MEETSTAGE_IVS_PRIVATE_KEY",
                "MEETSTAGE_RECORDING_CDN_PRIVATE_KEY",
                "MEETSTAGE_IVS_EVENTS_TOKEN",
            },
        )
        with open(os.path.join(TF, "ecs.tf")) as f:
            text = f.read()
        for var in (
            "MEETSTAGE_SHUTDOWN_GRACE_SECS",
            "MEETSTAGE_MEDIA_PROVIDER",
            "MEETSTAGE_METRICS_EMF",
            "MEETSTAGE_IVS_PUBLIC_KEY_ARN",
        ):
            self.assertIn(var, text)

    def test_recordings_are_joined_in_the_bucket_and_played_through_signed_urls(self):
        with open(os.path.join(TF, "ecs.tf")) as f:
            text = f.read()
        for var in (
            "MEETSTAGE_RECORDING_STORE",
            "MEETSTAGE_RECORDING_S3_BUCKET",
            "MEETSTAGE_RECORDING_CDN_URL",
            "MEETSTAGE_RECORDING_CDN_KEY_PAIR_ID",
        ):
            self.assertIn(var, text)
        (_, task), = resources("aws_ecs_task_definition")
        self.assertEqual(one(one(task, "ephemeral_storage"), "size_in_gib"), "${var.task_disk_gib}")
        # CloudFront honours signed URLs only, and lets the site's player fetch segments.
        (_, cdn), = resources("aws_cloudfront_distribution")
        behavior = one(cdn, "default_cache_behavior")
        self.assertEqual(
            one(behavior, "trusted_key_groups"), ["${aws_cloudfront_key_group.recordings.id}"]
        )
        self.assertEqual(
            one(behavior, "response_headers_policy_id"),
            "${aws_cloudfront_response_headers_policy.recordings.id}",
        )
        (_, headers), = resources("aws_cloudfront_response_headers_policy")
        cors = one(headers, "cors_config")
        self.assertEqual(
            one(one(cors, "access_control_allow_origins"), "items"), ["https://${var.domain}"]
        )
        self.assertIs(one(cors, "access_control_allow_credentials"), False)

    def test_ivs_composition_ends_reach_meetstage(self):
        rule = dict(resources("aws_cloudwatch_event_rule"))["composition_ended"]
        pattern = jsonencoded(one(rule, "event_pattern"))
        self.assertEqual(pattern["source"], ["aws.ivs"])
        self.assertEqual(pattern["detail-type"], ["IVS Composition State Change"])
        self.assertEqual(pattern["detail"]["event_name"], ["Session End", "Session Failure"])
        (_, dest), = resources("aws_cloudwatch_event_api_destination")
        self.assertEqual(one(dest, "invocation_endpoint"), "https://${var.domain}/api/v1/hooks/ivs")
        self.assertEqual(one(dest, "http_method"), "POST")
        (_, conn), = resources("aws_cloudwatch_event_connection")
        key = one(one(one(conn, "auth_parameters"), "api_key"), "key")
        self.assertEqual(key, "x-meetstage-token")
        target = dict(resources("aws_cloudwatch_event_target"))["ivs_hook"]
        self.assertEqual(one(target, "arn"), "${aws_cloudwatch_event_api_destination.ivs_hook.arn}")
        events = dict(blocks("data", "aws_iam_policy_document"))["events"]
        self.assertEqual(
            [one(st, "actions") for st in events["statement"]], [["events:InvokeApiDestination"]]
        )
        # The token meetstage checks is the one the connection sends.
        with open(os.path.join(ROOT, "src/http/api/hooks.rs")) as f:
            self.assertIn('"x-meetstage-token"', f.read())

    def test_the_first_apply_has_what_each_resource_waits_for(self):
        # The load balancer needs the internet gateway, and checks its log bucket's policy.
        (_, lb), = resources("aws_lb")
        self.assertEqual(
            lb["depends_on"][0],
            ["${aws_internet_gateway.main}", "${aws_s3_bucket_policy.logs}"],
        )
        # CloudFront's standard logs need the logs bucket's ownership controls.
        (_, cdn), = resources("aws_cloudfront_distribution")
        self.assertEqual(cdn["depends_on"][0], ["${aws_s3_bucket_ownership_controls.logs}"])
        # EventBridge may publish the task-stopped alerts to the encrypted topic.
        key = dict(resources("aws_kms_key"))["main"]
        services = str(
            [st["Principal"] for st in jsonencoded(one(key, "policy"))["Statement"]]
        )
        self.assertIn("events.amazonaws.com", services)
        # The recordings bucket's access logs can be delivered.
        logs = jsonencoded(one(dict(resources("aws_s3_bucket_policy"))["logs"], "policy"))
        (delivery,) = [
            st
            for st in logs["Statement"]
            if st["Principal"] == {"Service": "logging.s3.amazonaws.com"}
        ]
        self.assertEqual(delivery["Resource"], "${aws_s3_bucket.logs.arn}/s3/*")
        self.assertEqual(
            delivery["Condition"]["ArnLike"], {"aws:SourceArn": "${aws_s3_bucket.recordings.arn}"}
        )
        (_, logging), = resources("aws_s3_bucket_logging")
        self.assertEqual(one(logging, "target_prefix"), "s3/recordings/")
        # An existing _dmarc record can be left alone.
        dmarc = dict(resources("aws_route53_record"))["dmarc"]
        self.assertEqual(one(dmarc, "count"), "${var.manage_dmarc ? 1 : 0}")

    def test_variables_refuse_what_cannot_work(self):
        variables = {}
        for _, item in CONFIG.get("variable", []):
            variables.update(item)
        # Only regions where IVS Real-Time and IVS Chat both run.
        condition = one(one(variables["region"], "validation"), "condition")
        regions = set(re.findall(r"'([a-z]+-[a-z]+-\d)'", condition))
        self.assertEqual(
            regions,
            {
                "us-east-1", "us-west-2", "eu-west-1", "eu-central-1",
                "ap-northeast-1", "ap-northeast-2", "ap-south-1",
            },
        )
        # The image is named in the tfvars, never a :latest the immutable repository lacks.
        self.assertNotIn("default", variables["image"])
        image = one(one(variables["image"], "validation"), "condition")
        self.assertIn(':latest', image)
        (_, main), = [(p, i) for p, i in CONFIG["locals"] if p == "main.tf" and "image" in i]
        self.assertEqual(one(main, "image"), "${var.image}")
        # The sender's name is quoted in the From header, and cannot break out of the quotes.
        self.assertIn("validation", variables["community_name"])
        with open(os.path.join(TF, "ecs.tf")) as f:
            self.assertIn('"\\"${var.community_name}\\" <${var.mail_from}>"', f.read())
        # The load balancer has IPv4 only: the site's name has an A record, no AAAA.
        site = dict(resources("aws_route53_record"))["site"]
        self.assertEqual(one(site, "type"), "A")
        self.assertNotIn("for_each", site)

    def test_the_cost_guide_prices_the_region_it_deploys_to(self):
        with open(os.path.join(ROOT, "docs", "deploy-aws.md")) as f:
            guide = f.read()
        region = re.search(r'^region\s+= "([a-z0-9-]+)"', guide, re.M).group(1)
        self.assertIn(f"unit prices are {region} list prices", guide)
        self.assertIn("**102 participant-hours**", guide)
        self.assertIn("| Public IPv4 addresses |", guide)
        # The fixed monthly lines add up to the total the guide states.
        table = guide.split("## What a meetup costs", 1)[1]
        monthly = [
            float(m)
            for line in table.splitlines()
            if line.startswith("| ") and not line.startswith("| **")
            for m in re.findall(r"\| \$([0-9.]+) \|$", line)
        ]
        total = float(re.search(r"\*\*about \$([0-9]+)\*\*", table).group(1))
        self.assertAlmostEqual(sum(monthly), total, delta=1.0)

    def test_ivs_prices_and_the_monthly_ceiling_reach_meetstage_only_when_given(self):
        variables = {}
        for _, item in CONFIG.get("variable", []):
            variables.update(item)
        self.assertIsNone(one(variables["ivs_prices_usd"], "default"))
        self.assertIsNone(one(variables["ivs_monthly_ceiling_usd"], "default"))
        prices = one(one(variables["ivs_prices_usd"], "validation"), "condition")
        self.assertIn("{1,9}", prices)
        ceiling = one(one(variables["ivs_monthly_ceiling_usd"], "validation"), "condition")
        self.assertIn("var.ivs_prices_usd != None", ceiling)
        (_, ecs), = [(p, i) for p, i in CONFIG["locals"] if p == "ecs.tf"]
        costs = one(ecs, "ivs_cost_environment")
        for name in (
            "MEETSTAGE_IVS_PARTICIPANT_HOUR_USD",
            "MEETSTAGE_IVS_COMPOSITION_HOUR_USD",
            "MEETSTAGE_IVS_CHAT_PER_1000_USD",
            "MEETSTAGE_IVS_MONTHLY_CEILING_USD",
        ):
            self.assertIn(name, costs)
        self.assertIn("local.ivs_cost_environment", one(ecs, "environment"))

    def test_the_token_key_rotates_through_two_slots(self):
        (_, key), = resources("awscc_ivs_public_key")
        self.assertEqual(one(key, "for_each"), "${local.ivs_keys}")
        # Slot a keeps the name the single key had; state moves to it without a replacement.
        self.assertIn('"${var.name}-tokens"', one(key, "name"))
        moved = [m for _, m in CONFIG.get("moved", [])]
        self.assertIn(
            {"from": ["${awscc_ivs_public_key.tokens}"], "to": ['${awscc_ivs_public_key.tokens["a"]}']},
            [{k: v for k, v in m.items() if not k.startswith("__")} for m in moved],
        )
        variables = {}
        for _, item in CONFIG.get("variable", []):
            variables.update(item)
        checks = [one(v, "condition") for v in variables["ivs_signing_key"]["validation"]]
        self.assertTrue(any("ivs_public_key_pem_b" in c for c in checks), checks)
        with open(os.path.join(TF, "ecs.tf")) as f:
            self.assertIn("awscc_ivs_public_key.tokens[var.ivs_signing_key].arn", f.read())

    def test_the_state_lives_in_an_encrypted_versioned_bucket(self):
        (_, versions), = [(p, i) for p, i in CONFIG["terraform"] if p == "versions.tf"]
        self.assertIn("s3", one(versions, "backend"))
        self.assertEqual(one(versions, "required_version"), ">= 1.10")
        boot = load_all(os.path.join(TF, "bootstrap"), skip=())
        kinds = {}
        for _, item in boot["resource"]:
            for type_, named in item.items():
                kinds.setdefault(type_, {}).update(named)
        self.assertEqual(
            one(one(kinds["aws_s3_bucket_versioning"]["state"], "versioning_configuration"), "status"),
            "Enabled",
        )
        sse = one(
            one(kinds["aws_s3_bucket_server_side_encryption_configuration"]["state"], "rule"),
            "apply_server_side_encryption_by_default",
        )
        self.assertEqual(one(sse, "sse_algorithm"), "aws:kms")
        self.assertIs(one(kinds["aws_kms_key"]["state"], "enable_key_rotation"), True)
        block = kinds["aws_s3_bucket_public_access_block"]["state"]
        for flag in ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets"):
            self.assertIs(one(block, flag), True, flag)
        policy = jsonencoded(one(kinds["aws_s3_bucket_policy"]["state"], "policy"))
        self.assertEqual(policy["Statement"][0]["Condition"], {"Bool": {"aws:SecureTransport": "false"}})
        (output,) = [o for _, o in boot["output"]]
        config = one(output["backend_config"], "value")
        for line in ("use_lockfile = true", "encrypt      = true", "kms_key_id"):
            self.assertIn(line, config)

    def test_backups_may_be_copied_to_a_second_region(self):
        (_, copy), = resources("aws_db_instance_automated_backups_replication")
        self.assertEqual(one(copy, "count"), '${var.backup_region == "" ? 0 : 1}')
        self.assertEqual(one(copy, "provider"), "${aws.backup}")
        self.assertEqual(one(copy, "source_db_instance_arn"), "${aws_db_instance.main.arn}")
        self.assertGreaterEqual(one(copy, "retention_period"), 7)
        backup_key = dict(resources("aws_kms_key"))["backup"]
        self.assertEqual(one(backup_key, "provider"), "${aws.backup}")
        self.assertIs(one(backup_key, "enable_key_rotation"), True)

    def test_mail_is_authenticated(self):
        (_, identity), = resources("aws_sesv2_email_identity")
        self.assertEqual(
            one(one(identity, "dkim_signing_attributes"), "next_signing_key_length"),
            "RSA_2048_BIT",
        )
        self.assertEqual(len(resources("aws_sesv2_email_identity_mail_from_attributes")), 1)
        self.assertEqual(len(resources("aws_sesv2_configuration_set")), 1)
        records = dict(resources("aws_route53_record"))
        for name in ("dkim", "mail_from_mx", "mail_from_spf", "dmarc"):
            self.assertIn(name, records)

    def test_alarms_dashboard_and_saved_queries(self):
        alarms = dict(resources("aws_cloudwatch_metric_alarm"))
        self.assertEqual(
            set(alarms),
            {
                "http_5xx_rate", "dead_mail", "job_failures", "tasks_running",
                "db_cpu", "db_storage", "db_memory", "db_connections",
                "ses_bounce_rate", "ses_complaint_rate", "unhealthy_hosts", "elb_5xx",
                "ivs_stages", "ivs_composition_failures",
            },
        )
        for name, body in alarms.items():
            self.assertEqual(one(body, "alarm_actions"), "${local.alarm_actions}", name)
        metrics = {name: one(body, "metric_name") for name, body in alarms.items() if "metric_name" in body}
        self.assertEqual(metrics["ses_bounce_rate"], "Reputation.BounceRate")
        self.assertEqual(metrics["ses_complaint_rate"], "Reputation.ComplaintRate")
        self.assertEqual(metrics["unhealthy_hosts"], "UnHealthyHostCount")
        self.assertEqual(metrics["elb_5xx"], "HTTPCode_ELB_5XX_Count")
        self.assertEqual(metrics["db_memory"], "FreeableMemory")
        self.assertEqual(metrics["db_connections"], "DatabaseConnections")
        # The budget warns the same topic, and every service that publishes there may.
        (_, budget), = resources("aws_budgets_budget")
        self.assertEqual(one(budget, "limit_amount"), "${tostring(var.monthly_budget_usd)}")
        kinds = sorted(one(n, "notification_type") for n in budget["notification"])
        self.assertEqual(kinds, ["ACTUAL", "FORECASTED"])
        topic = jsonencoded(one(dict(resources("aws_sns_topic_policy"))["alarms"], "policy"))
        publishers = {st["Principal"]["Service"] for st in topic["Statement"]}
        self.assertEqual(
            publishers, {"events.amazonaws.com", "cloudwatch.amazonaws.com", "budgets.amazonaws.com"}
        )
        key = dict(resources("aws_kms_key"))["main"]
        key_users = set()
        for st in jsonencoded(one(key, "policy"))["Statement"]:
            service = st["Principal"].get("Service", [])
            key_users.update([service] if isinstance(service, str) else service)
        self.assertLessEqual(publishers, key_users)
        (_, dash), = resources("aws_cloudwatch_dashboard")
        body = str(one(dash, "dashboard_body"))
        for metric in ("Attendees", "QuestionsAsked", "ChatMessages", "HandsRaised", "JobFailures", "DeadMail"):
            self.assertIn(f"'{metric}'", body)
        queries = dict(resources("aws_cloudwatch_query_definition"))
        self.assertEqual(set(queries), {"errors_by_route", "request_by_id", "mail_failures"})
        # The metrics the alarms and the dashboard read are the ones meetstage writes.
        with open(os.path.join(ROOT, "src", "telemetry.rs")) as f:
            telemetry = f.read()
        for metric in (
            "Attendees", "QuestionsAsked", "ChatMessages", "HandsRaised", "JobFailures", "DeadMail",
            "Http5xx", "IvsStagesOpen", "IvsCompositionFailures",
        ):
            self.assertIn(f'"{metric}"', telemetry)
        for name in ("ivs_stages", "ivs_composition_failures"):
            self.assertEqual(one(alarms[name], "namespace"), "meetstage")
            self.assertIn(f'"{one(alarms[name], "metric_name")}"', telemetry)


if __name__ == "__main__":
    unittest.main()
