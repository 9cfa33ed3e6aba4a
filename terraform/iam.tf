# Two roles. The execution role lets ECS pull the image, write the log stream and read the
# secrets. The task role is meetstage's own: exactly the IVS, IVS Chat, SES and S3 actions
# it calls, on this account's resources of those kinds. No wildcard actions anywhere.

locals {
  ivs_arn     = "arn:${local.partition}:ivs:${var.region}:${local.account}"
  ivschat_arn = "arn:${local.partition}:ivschat:${var.region}:${local.account}"
  ses_arn     = "arn:${local.partition}:ses:${var.region}:${local.account}"
}

data "aws_iam_policy_document" "ecs_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account]
    }
  }
}

resource "aws_iam_role" "execution" {
  name               = "${var.name}-execution"
  assume_role_policy = data.aws_iam_policy_document.ecs_assume.json
}

data "aws_iam_policy_document" "execution" {
  statement {
    sid       = "PullImage"
    actions   = ["ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"]
    resources = [aws_ecr_repository.app.arn]
  }
  statement {
    # GetAuthorizationToken has no resource-level permissions.
    sid       = "EcrLogin"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }
  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.app.arn}:*"]
  }
  statement {
    sid     = "Secrets"
    actions = ["secretsmanager:GetSecretValue"]
    resources = [
      aws_secretsmanager_secret.database_url.arn,
      aws_secretsmanager_secret.secret_key.arn,
      aws_secretsmanager_secret.ivs_private_key.arn,
      aws_secretsmanager_secret.cdn_private_key.arn,
      aws_secretsmanager_secret.ivs_events_token.arn,
    ]
  }
  statement {
    sid       = "DecryptSecretsAndImages"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.main.arn]
  }
}

resource "aws_iam_role_policy" "execution" {
  role   = aws_iam_role.execution.id
  policy = data.aws_iam_policy_document.execution.json
}

resource "aws_iam_role" "task" {
  name               = "${var.name}-task"
  assume_role_policy = data.aws_iam_policy_document.ecs_assume.json
}

data "aws_iam_policy_document" "task" {
  statement {
    sid = "IvsStages"
    actions = [
      "ivs:CreateStage",
      "ivs:GetStage",
      "ivs:DeleteStage",
      "ivs:ListParticipants",
      "ivs:DisconnectParticipant",
      "ivs:TagResource",
    ]
    resources = ["${local.ivs_arn}:stage/*"]
  }
  statement {
    sid = "IvsComposition"
    actions = [
      "ivs:StartComposition",
      "ivs:GetComposition",
      "ivs:StopComposition",
      "ivs:TagResource",
    ]
    resources = [
      "${local.ivs_arn}:composition/*",
      "${local.ivs_arn}:stage/*",
      awscc_ivs_storage_configuration.recordings.arn,
      awscc_ivs_encoder_configuration.recordings.arn,
    ]
  }
  statement {
    sid = "IvsChat"
    actions = [
      "ivschat:CreateRoom",
      "ivschat:DeleteRoom",
      "ivschat:CreateChatToken",
      "ivschat:SendEvent",
      "ivschat:DeleteMessage",
      "ivschat:DisconnectUser",
      "ivschat:TagResource",
    ]
    resources = ["${local.ivschat_arn}:room/*"]
  }
  # IVS writes compositions to the bucket; meetstage reads them, puts the joined recording
  # under vod/, and removes both when they are done with or deleted.
  statement {
    sid       = "RecordingObjects"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = ["${aws_s3_bucket.recordings.arn}/*"]
  }
  statement {
    sid       = "RecordingList"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.recordings.arn]
  }
  # In the SES sandbox, SES also authorises each send against the recipient's identity (an
  # address verified in this account), so the sender's domain alone is not enough: every
  # identity of this account may be named. SES itself refuses a sender it has not verified.
  statement {
    sid     = "Mail"
    actions = ["ses:SendEmail", "ses:SendRawEmail"]
    resources = [
      "${local.ses_arn}:identity/*",
      "${local.ses_arn}:configuration-set/${aws_sesv2_configuration_set.main.configuration_set_name}",
    ]
  }
  # Whether the account is still in the sandbox, for the admin's outbox page and the log at
  # start. GetAccount has no resource to name.
  statement {
    sid       = "MailAccount"
    actions   = ["ses:GetAccount"]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "task" {
  role   = aws_iam_role.task.id
  policy = data.aws_iam_policy_document.task.json
}
