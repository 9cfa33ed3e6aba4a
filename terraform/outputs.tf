output "site_url" {
  value = "https://${var.domain}"
}

output "ecr_repository_url" {
  description = "Push the meetstage image here (docs/deploy-aws.md)."
  value       = aws_ecr_repository.app.repository_url
}

output "recordings_bucket" {
  value = aws_s3_bucket.recordings.id
}

output "recordings_cdn" {
  value = "https://${local.cdn_domain}"
}

output "ivs_private_key_secret" {
  description = "Put the PKCS#8 PEM of the IVS token key here (docs/deploy-aws.md)."
  value       = aws_secretsmanager_secret.ivs_private_key.arn
}

output "alarm_topic" {
  value = aws_sns_topic.alarms.arn
}

output "cdn_private_key_secret" {
  description = "Secret to put the CDN's RSA private key in (docs/deploy-aws.md)."
  value       = aws_secretsmanager_secret.cdn_private_key.arn
}
