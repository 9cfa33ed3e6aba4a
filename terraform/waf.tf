# Both entry points behind WAF (modules/web_acl): AWS's managed common, SQL-injection and
# known-bad-inputs rules, and a per-IP rate rule above meetstage's own limits, so WAF stops
# floods before they reach a task while meetstage keeps answering ordinary excess with 429
# and a Retry-After.

module "waf_alb" {
  source               = "./modules/web_acl"
  name                 = "${var.name}-alb"
  scope                = "REGIONAL"
  rate_limit_per_5_min = var.rate_limit_per_5_min
  # Chat messages, talk descriptions and SDP offers can exceed the common rule set's 8 KiB
  # body limit; meetstage bounds every body itself (64 KiB at most), so this rule only counts.
  count_rules     = ["SizeRestrictions_BODY"]
  log_kms_key_arn = aws_kms_key.main.arn
}

resource "aws_wafv2_web_acl_association" "alb" {
  resource_arn = aws_lb.main.arn
  web_acl_arn  = module.waf_alb.arn
}

# Playing a recording fetches a segment every few seconds, far below the rate rule.
module "waf_cdn" {
  source               = "./modules/web_acl"
  providers            = { aws = aws.us_east_1 }
  name                 = "${var.name}-cdn"
  scope                = "CLOUDFRONT"
  rate_limit_per_5_min = var.rate_limit_per_5_min
}
