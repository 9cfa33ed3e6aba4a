# One web ACL: AWS's managed common, SQL-injection and known-bad-inputs rule groups, a
# per-IP rate rule, metrics and sampled requests on every rule. Used for the load balancer
# (REGIONAL) and for CloudFront (CLOUDFRONT, made in us-east-1).

terraform {
  required_providers {
    aws = {
      source = "hashicorp/aws"
    }
  }
}

variable "name" {
  type = string
}

variable "scope" {
  description = "REGIONAL or CLOUDFRONT"
  type        = string
}

variable "rate_limit_per_5_min" {
  type = number
}

variable "log_kms_key_arn" {
  description = "KMS key for the log group, where one exists in the ACL's region (null: CloudWatch's own)."
  type        = string
  default     = null
}

variable "count_rules" {
  description = "Per managed rule group, the rules that only count (with the reason in the caller)."
  type        = map(list(string))
  default     = {}
}

locals {
  managed_rules = ["AWSManagedRulesCommonRuleSet", "AWSManagedRulesSQLiRuleSet", "AWSManagedRulesKnownBadInputsRuleSet"]
}

resource "aws_wafv2_web_acl" "this" {
  name  = var.name
  scope = var.scope

  default_action {
    allow {}
  }

  dynamic "rule" {
    for_each = local.managed_rules
    content {
      name     = rule.value
      priority = rule.key
      override_action {
        none {}
      }
      statement {
        managed_rule_group_statement {
          vendor_name = "AWS"
          name        = rule.value
          dynamic "rule_action_override" {
            for_each = lookup(var.count_rules, rule.value, [])
            content {
              name = rule_action_override.value
              action_to_use {
                count {}
              }
            }
          }
        }
      }
      visibility_config {
        cloudwatch_metrics_enabled = true
        metric_name                = "${var.name}-${rule.value}"
        sampled_requests_enabled   = true
      }
    }
  }

  rule {
    name     = "rate-per-ip"
    priority = 10
    action {
      block {}
    }
    statement {
      rate_based_statement {
        limit              = var.rate_limit_per_5_min
        aggregate_key_type = "IP"
      }
    }
    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${var.name}-rate"
      sampled_requests_enabled   = true
    }
  }

  visibility_config {
    cloudwatch_metrics_enabled = true
    metric_name                = var.name
    sampled_requests_enabled   = true
  }
}

# WAF requires log group names to start with aws-waf-logs-.
resource "aws_cloudwatch_log_group" "this" {
  #checkov:skip=CKV_AWS_338:30 days is the retention this deployment promises (issue 10)
  #checkov:skip=CKV_AWS_158:the CloudFront ACL lives in us-east-1, where the stack has no key; logs there use CloudWatch's own encryption
  name              = "aws-waf-logs-${var.name}"
  retention_in_days = 30
  kms_key_id        = var.log_kms_key_arn
}

resource "aws_wafv2_web_acl_logging_configuration" "this" {
  resource_arn            = aws_wafv2_web_acl.this.arn
  log_destination_configs = [aws_cloudwatch_log_group.this.arn]
}

output "arn" {
  value = aws_wafv2_web_acl.this.arn
}
