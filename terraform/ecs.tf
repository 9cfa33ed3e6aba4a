# The app: one container image in ECR, run as a Fargate service in the private subnets. The
# task's settings are plain environment variables; its secrets come from Secrets Manager.

resource "aws_ecr_repository" "app" {
  name                 = var.name
  image_tag_mutability = "IMMUTABLE"
  image_scanning_configuration {
    scan_on_push = true
  }
  encryption_configuration {
    encryption_type = "KMS"
    kms_key         = aws_kms_key.main.arn
  }
}

resource "aws_ecr_lifecycle_policy" "app" {
  repository = aws_ecr_repository.app.name
  policy = jsonencode({
    rules = [{
      rulePriority = 1
      description  = "keep the last 20 images"
      selection    = { tagStatus = "any", countType = "imageCountMoreThan", countNumber = 20 }
      action       = { type = "expire" }
    }]
  })
}

resource "aws_ecs_cluster" "main" {
  name = var.name
  setting {
    name  = "containerInsights"
    value = "enabled"
  }
}

resource "aws_cloudwatch_log_group" "app" {
  #checkov:skip=CKV_AWS_338:30 days is the retention this deployment promises (issue 10); export to S3 for longer
  name              = "/${var.name}/app"
  retention_in_days = 30
  kms_key_id        = aws_kms_key.main.arn
}

locals {
  # The IVS prices and ceiling only when given: meetstage then shows quantities only.
  ivs_cost_environment = merge(
    var.ivs_prices_usd == null ? {} : {
      MEETSTAGE_IVS_PARTICIPANT_HOUR_USD = var.ivs_prices_usd.participant_hour
      MEETSTAGE_IVS_COMPOSITION_HOUR_USD = var.ivs_prices_usd.composition_hour
      MEETSTAGE_IVS_CHAT_PER_1000_USD    = "${var.ivs_prices_usd.chat_sent_per_1000},${var.ivs_prices_usd.chat_delivered_per_1000}"
    },
    var.ivs_monthly_ceiling_usd == null ? {} : {
      MEETSTAGE_IVS_MONTHLY_CEILING_USD = tostring(var.ivs_monthly_ceiling_usd)
    },
  )
  environment = merge(local.ivs_cost_environment, {
    MEETSTAGE_ENV                           = "production"
    MEETSTAGE_BIND                          = "0.0.0.0:8080"
    MEETSTAGE_BASE_URL                      = "https://${var.domain}"
    MEETSTAGE_TRUST_PROXY                   = "true"
    MEETSTAGE_COMMUNITY_NAME                = var.community_name
    MEETSTAGE_LOG_FORMAT                    = "json"
    MEETSTAGE_METRICS_EMF                   = "true"
    MEETSTAGE_SHUTDOWN_GRACE_SECS           = tostring(var.shutdown_grace_seconds)
    MEETSTAGE_MAILER                        = "ses"
    MEETSTAGE_SES_REGION                    = var.region
    MEETSTAGE_SES_CONFIGURATION_SET         = aws_sesv2_configuration_set.main.configuration_set_name
    MEETSTAGE_MAIL_FROM                     = "\"${var.community_name}\" <${var.mail_from}>"
    MEETSTAGE_MEDIA_PROVIDER                = "ivs"
    MEETSTAGE_IVS_REGION                    = var.region
    MEETSTAGE_IVS_PUBLIC_KEY_ARN            = awscc_ivs_public_key.tokens[var.ivs_signing_key].arn
    MEETSTAGE_IVS_STORAGE_CONFIGURATION_ARN = awscc_ivs_storage_configuration.recordings.arn
    MEETSTAGE_IVS_ENCODER_CONFIGURATION_ARN = awscc_ivs_encoder_configuration.recordings.arn
    MEETSTAGE_CHAT_PROVIDER                 = var.ivs_chat ? "ivs" : "embedded"
    # IVS composes into the bucket; meetstage joins each event's compositions under vod/ and
    # players fetch them from CloudFront with signed URLs.
    MEETSTAGE_RECORDING_STORE           = "s3"
    MEETSTAGE_RECORDING_S3_BUCKET       = aws_s3_bucket.recordings.id
    MEETSTAGE_RECORDING_S3_REGION       = var.region
    MEETSTAGE_RECORDING_CDN_URL         = "https://${local.cdn_domain}"
    MEETSTAGE_RECORDING_CDN_KEY_PAIR_ID = aws_cloudfront_public_key.recordings.id
  })
}

resource "aws_ecs_task_definition" "app" {
  family                   = var.name
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.task_cpu
  memory                   = var.task_memory
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.task.arn
  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }

  container_definitions = jsonencode([{
    name                   = "meetstage"
    image                  = local.image
    essential              = true
    readonlyRootFilesystem = true
    user                   = "10001"
    portMappings           = [{ containerPort = 8080, protocol = "tcp" }]
    # ECS sends SIGTERM, waits this long, then SIGKILL: meetstage drains within its grace.
    stopTimeout = var.shutdown_grace_seconds + 5
    environment = [for k, v in local.environment : { name = k, value = v }]
    secrets = [
      { name = "DATABASE_URL", valueFrom = aws_secretsmanager_secret.database_url.arn },
      { name = "MEETSTAGE_SECRET_KEY", valueFrom = aws_secretsmanager_secret.secret_key.arn },
      { name = "MEETSTAGE_IVS_PRIVATE_KEY", valueFrom = aws_secretsmanager_secret.ivs_private_key.arn },
      { name = "MEETSTAGE_RECORDING_CDN_PRIVATE_KEY", valueFrom = aws_secretsmanager_secret.cdn_private_key.arn },
      { name = "MEETSTAGE_IVS_EVENTS_TOKEN", valueFrom = aws_secretsmanager_secret.ivs_events_token.arn },
    ]
    # The load balancer's health check (/readyz) decides a task's health.
    mountPoints = [{ sourceVolume = "data", containerPath = "/var/lib/meetstage/data" }]
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.app.name
        awslogs-region        = var.region
        awslogs-stream-prefix = "app"
      }
    }
  }])

  # The data directory holds nothing durable under Postgres (mail goes through SES); a
  # recording is joined there after its event, so the task gets the disk for it.
  volume {
    name = "data"
  }
  ephemeral_storage {
    size_in_gib = var.task_disk_gib
  }
}

resource "aws_ecs_service" "app" {
  name                               = var.name
  cluster                            = aws_ecs_cluster.main.id
  task_definition                    = aws_ecs_task_definition.app.arn
  desired_count                      = var.task_count
  launch_type                        = "FARGATE"
  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200
  health_check_grace_period_seconds  = 60
  enable_execute_command             = false

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  network_configuration {
    subnets          = aws_subnet.private[*].id
    security_groups  = [aws_security_group.app.id]
    assign_public_ip = false
  }

  load_balancer {
    target_group_arn = aws_lb_target_group.app.arn
    container_name   = "meetstage"
    container_port   = 8080
  }

  depends_on = [aws_lb_listener.https]
}
