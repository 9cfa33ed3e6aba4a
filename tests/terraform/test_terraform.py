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


def load_all():
    """Every .tf file merged: {block kind: [{type: {name: body}}]} with the file's name."""
    merged = {}
    for path in sorted(glob.glob(os.path.join(TF, "**", "*.tf"), recursive=True)):
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
            {"http_5xx_rate", "dead_mail", "job_failures", "tasks_running", "db_cpu", "db_storage"},
        )
        for name, body in alarms.items():
            self.assertEqual(one(body, "alarm_actions"), "${local.alarm_actions}", name)
        (_, dash), = resources("aws_cloudwatch_dashboard")
        body = str(one(dash, "dashboard_body"))
        for metric in ("Attendees", "QuestionsAsked", "ChatMessages", "HandsRaised", "JobFailures", "DeadMail"):
            self.assertIn(f"'{metric}'", body)
        queries = dict(resources("aws_cloudwatch_query_definition"))
        self.assertEqual(set(queries), {"errors_by_route", "request_by_id", "mail_failures"})
        # The metrics the alarms and the dashboard read are the ones meetstage writes.
        with open(os.path.join(ROOT, "src", "telemetry.rs")) as f:
            telemetry = f.read()
        for metric in ("Attendees", "QuestionsAsked", "ChatMessages", "HandsRaised", "JobFailures", "DeadMail", "Http5xx"):
            self.assertIn(f'"{metric}"', telemetry)


if __name__ == "__main__":
    unittest.main()
