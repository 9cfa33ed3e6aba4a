# Where the deployment's terraform state lives: an S3 bucket of its own, versioned and
# encrypted with a key of its own, readable only over TLS, with S3's native lock file. The
# state holds the database password and meetstage's secret key, so it never stays on a
# laptop in plain text. Applied once, before the deployment (docs/deploy-aws.md, step 0);
# its own small state (no secrets) may stay local.

terraform {
  required_version = ">= 1.10"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.80"
    }
  }
}

variable "region" {
  description = "The region of the state bucket (the deployment's own is a good choice)."
  type        = string
}

variable "name" {
  description = "The deployment's name (as in the main module)."
  type        = string
  default     = "meetstage"
}

provider "aws" {
  region = var.region
  default_tags {
    tags = { application = "meetstage", stack = var.name, part = "terraform-state" }
  }
}

data "aws_caller_identity" "current" {}

resource "aws_kms_key" "state" {
  description             = "${var.name}: terraform state"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "Account"
      Effect    = "Allow"
      Principal = { AWS = "arn:aws:iam::${data.aws_caller_identity.current.account_id}:root" }
      Action = [
        "kms:Create*", "kms:Describe*", "kms:Enable*", "kms:List*", "kms:Put*", "kms:Update*",
        "kms:Revoke*", "kms:Disable*", "kms:Get*", "kms:Delete*", "kms:TagResource",
        "kms:UntagResource", "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion",
        "kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*",
      ]
      Resource = "*"
    }]
  })
}

resource "aws_s3_bucket" "state" {
  #checkov:skip=CKV_AWS_144:a second region for a few kilobytes of state; versioning keeps every earlier version
  #checkov:skip=CKV2_AWS_62:nothing consumes the state bucket's object events
  #checkov:skip=CKV_AWS_18:only terraform reads and writes it; CloudTrail records who did
  bucket = "${var.name}-tfstate-${data.aws_caller_identity.current.account_id}"
}

resource "aws_s3_bucket_public_access_block" "state" {
  bucket                  = aws_s3_bucket.state.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "state" {
  bucket = aws_s3_bucket.state.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_versioning" "state" {
  bucket = aws_s3_bucket.state.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "state" {
  bucket = aws_s3_bucket.state.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.state.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "state" {
  bucket = aws_s3_bucket.state.id
  rule {
    id     = "old-versions"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = 90
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
}

resource "aws_s3_bucket_policy" "state" {
  bucket = aws_s3_bucket.state.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "TlsOnly"
      Effect    = "Deny"
      Principal = "*"
      Action    = "s3:*"
      Resource  = [aws_s3_bucket.state.arn, "${aws_s3_bucket.state.arn}/*"]
      Condition = { Bool = { "aws:SecureTransport" = "false" } }
    }]
  })
}

# `terraform output -raw backend_config > ../backend.hcl`, then in the main module
# `terraform init -backend-config=backend.hcl`.
output "backend_config" {
  value = <<-HCL
    bucket       = "${aws_s3_bucket.state.id}"
    key          = "${var.name}/terraform.tfstate"
    region       = "${var.region}"
    encrypt      = true
    kms_key_id   = "${aws_kms_key.state.arn}"
    use_lockfile = true
  HCL
}
