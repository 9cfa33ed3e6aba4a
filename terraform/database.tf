# Postgres: encrypted, in the private subnets, daily backups kept a week, deletion
# protection and a final snapshot, logs to CloudWatch, minor upgrades applied.

resource "aws_db_subnet_group" "main" {
  name       = var.name
  subnet_ids = aws_subnet.private[*].id
}

resource "aws_db_parameter_group" "main" {
  name   = "${var.name}-pg16"
  family = "postgres16"
  parameter {
    name  = "log_min_duration_statement"
    value = "500"
  }
  parameter {
    name  = "rds.force_ssl"
    value = "1"
  }
}

resource "random_password" "db" {
  length  = 32
  special = false
}

resource "aws_db_instance" "main" {
  #checkov:skip=CKV_AWS_157:a standby doubles the database bill; var.db_multi_az turns it on
  identifier                          = var.name
  engine                              = "postgres"
  engine_version                      = "16"
  instance_class                      = var.db_instance_class
  allocated_storage                   = var.db_storage_gb
  max_allocated_storage               = var.db_storage_gb * 4
  storage_type                        = "gp3"
  storage_encrypted                   = true
  kms_key_id                          = aws_kms_key.main.arn
  db_name                             = "meetstage"
  username                            = "meetstage"
  password                            = random_password.db.result
  db_subnet_group_name                = aws_db_subnet_group.main.name
  parameter_group_name                = aws_db_parameter_group.main.name
  vpc_security_group_ids              = [aws_security_group.db.id]
  publicly_accessible                 = false
  multi_az                            = var.db_multi_az
  backup_retention_period             = 7
  copy_tags_to_snapshot               = true
  deletion_protection                 = true
  skip_final_snapshot                 = false
  final_snapshot_identifier           = "${var.name}-final"
  auto_minor_version_upgrade          = true
  iam_database_authentication_enabled = true
  performance_insights_enabled        = true
  performance_insights_kms_key_id     = aws_kms_key.main.arn
  monitoring_interval                 = 60
  monitoring_role_arn                 = aws_iam_role.rds_monitoring.arn
  enabled_cloudwatch_logs_exports     = ["postgresql", "upgrade"]
}

resource "aws_iam_role" "rds_monitoring" {
  name = "${var.name}-rds-monitoring"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "monitoring.rds.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
}

resource "aws_iam_role_policy_attachment" "rds_monitoring" {
  role       = aws_iam_role.rds_monitoring.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
}

# The secrets the task reads at start: the database URL, meetstage's signing key, and the
# private key of IVS stage tokens (put in by hand: it never passes through terraform state).

resource "aws_secretsmanager_secret" "database_url" {
  #checkov:skip=CKV2_AWS_57:rotating the RDS password needs a rotation Lambda; rotate by hand with docs/deploy-aws.md
  name       = "${var.name}/database-url"
  kms_key_id = aws_kms_key.main.arn
}

resource "aws_secretsmanager_secret_version" "database_url" {
  secret_id     = aws_secretsmanager_secret.database_url.id
  secret_string = "postgres://meetstage:${random_password.db.result}@${aws_db_instance.main.address}:5432/meetstage?sslmode=require"
}

resource "random_password" "secret_key" {
  length  = 64
  special = false
}

resource "aws_secretsmanager_secret" "secret_key" {
  #checkov:skip=CKV2_AWS_57:rotating the CSRF/session signing key signs everyone out; done by hand when needed
  name       = "${var.name}/secret-key"
  kms_key_id = aws_kms_key.main.arn
}

resource "aws_secretsmanager_secret_version" "secret_key" {
  secret_id     = aws_secretsmanager_secret.secret_key.id
  secret_string = random_password.secret_key.result
}

resource "aws_secretsmanager_secret" "ivs_private_key" {
  #checkov:skip=CKV2_AWS_57:a new IVS key must be imported as a public key first; docs/deploy-aws.md has the steps
  name        = "${var.name}/ivs-private-key"
  description = "PKCS#8 PEM of the P-384 key whose public half is ivs_public_key_pem; set with `aws secretsmanager put-secret-value` (docs/deploy-aws.md)."
  kms_key_id  = aws_kms_key.main.arn
}

resource "aws_secretsmanager_secret" "cdn_private_key" {
  #checkov:skip=CKV2_AWS_57:a new key must be added to the key group first; docs/deploy-aws.md has the steps
  name        = "${var.name}/cdn-private-key"
  description = "PEM of the RSA key whose public half is cdn_public_key_pem; set with `aws secretsmanager put-secret-value` (docs/deploy-aws.md)."
  kms_key_id  = aws_kms_key.main.arn
}

# What EventBridge sends with IVS's events (events.tf), and meetstage checks.
resource "random_password" "ivs_events_token" {
  length  = 48
  special = false
}

resource "aws_secretsmanager_secret" "ivs_events_token" {
  #checkov:skip=CKV2_AWS_57:rotating means changing the connection too; terraform apply does both
  name       = "${var.name}/ivs-events-token"
  kms_key_id = aws_kms_key.main.arn
}

resource "aws_secretsmanager_secret_version" "ivs_events_token" {
  secret_id     = aws_secretsmanager_secret.ivs_events_token.id
  secret_string = random_password.ivs_events_token.result
}

# Optional: the database's automated backups copied to a second region (`backup_region`), so
# a region lost does not lose the community's members, events and history.
provider "aws" {
  alias  = "backup"
  region = var.backup_region != "" ? var.backup_region : var.region
  default_tags {
    tags = local.tags
  }
}

resource "aws_kms_key" "backup" {
  count                   = var.backup_region == "" ? 0 : 1
  provider                = aws.backup
  description             = "${var.name}: database backups copied from ${var.region}"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "Account"
      Effect    = "Allow"
      Principal = { AWS = "arn:${local.partition}:iam::${local.account}:root" }
      # RDS copies into the key through a grant.
      Action   = concat(local.kms_account_actions, ["kms:CreateGrant"])
      Resource = "*"
    }]
  })
}

resource "aws_db_instance_automated_backups_replication" "second_region" {
  count                  = var.backup_region == "" ? 0 : 1
  provider               = aws.backup
  source_db_instance_arn = aws_db_instance.main.arn
  kms_key_id             = aws_kms_key.backup[0].arn
  retention_period       = 7
}
