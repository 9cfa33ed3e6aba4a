# IVS reports a composition's end to EventBridge; a rule forwards it to meetstage
# (/api/v1/hooks/ivs, with the token), so a recording is fetched as soon as IVS finished
# writing it. Delivery is best-effort on both sides: meetstage also looks by itself every
# two minutes after an event ends, so a lost event only delays the recording.

resource "aws_cloudwatch_event_connection" "meetstage" {
  name               = "${var.name}-hooks"
  authorization_type = "API_KEY"
  auth_parameters {
    api_key {
      key   = "x-meetstage-token"
      value = random_password.ivs_events_token.result
    }
  }
}

resource "aws_cloudwatch_event_api_destination" "ivs_hook" {
  name                             = "${var.name}-ivs-hook"
  connection_arn                   = aws_cloudwatch_event_connection.meetstage.arn
  invocation_endpoint              = "https://${var.domain}/api/v1/hooks/ivs"
  http_method                      = "POST"
  invocation_rate_limit_per_second = 10
}

resource "aws_cloudwatch_event_rule" "composition_ended" {
  name        = "${var.name}-composition-ended"
  description = "An IVS composition session ended or failed: its recording can be fetched."
  event_pattern = jsonencode({
    source        = ["aws.ivs"]
    "detail-type" = ["IVS Composition State Change"]
    detail        = { event_name = ["Session End", "Session Failure"] }
  })
}

data "aws_iam_policy_document" "events_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account]
    }
  }
}

resource "aws_iam_role" "events" {
  name               = "${var.name}-events"
  assume_role_policy = data.aws_iam_policy_document.events_assume.json
}

data "aws_iam_policy_document" "events" {
  statement {
    sid       = "CallMeetstage"
    actions   = ["events:InvokeApiDestination"]
    resources = [aws_cloudwatch_event_api_destination.ivs_hook.arn]
  }
}

resource "aws_iam_role_policy" "events" {
  role   = aws_iam_role.events.id
  policy = data.aws_iam_policy_document.events.json
}

resource "aws_cloudwatch_event_target" "ivs_hook" {
  rule     = aws_cloudwatch_event_rule.composition_ended.name
  arn      = aws_cloudwatch_event_api_destination.ivs_hook.arn
  role_arn = aws_iam_role.events.arn
  retry_policy {
    maximum_event_age_in_seconds = 3600
    maximum_retry_attempts       = 20
  }
}
