# meetstage on AWS: one ECS Fargate service (the whole app) behind an ALB, RDS Postgres,
# recordings in S3 behind CloudFront, Amazon IVS Real-Time for media, SES for mail, WAF in
# front of both entry points, and CloudWatch for logs, alarms and the dashboard. See
# docs/deploy-aws.md for the steps around `terraform apply`.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_availability_zones" "available" {
  #checkov:skip=CKV_AWS_394:only the first two zones are used (slice), so new zones change nothing
  state = "available"
}

locals {
  tags = {
    application = "meetstage"
    stack       = var.name
  }
  account     = data.aws_caller_identity.current.account_id
  partition   = data.aws_partition.current.partition
  azs         = slice(data.aws_availability_zones.available.names, 0, 2)
  cdn_domain  = "media.${var.domain}"
  mail_domain = split("@", var.mail_from)[1]
  image       = var.image
}
