# Both entry points behind WAF (modules/web_acl): AWS's managed common, SQL-injection and
# known-bad-inputs rules, and a per-IP rate rule above meetstage's own limits, so WAF stops
# floods before they reach a task while meetstage keeps answering ordinary excess with 429
# and a Retry-After.

module "waf_alb" {
  source               = "./modules/web_acl"
  name                 = "${var.name}-alb"
  scope                = "REGIONAL"
  rate_limit_per_5_min = var.rate_limit_per_5_min
  # Bodies: chat messages, talk descriptions and SDP offers can exceed the common rule set's
  # 8 KiB body limit (meetstage bounds every body itself, 64 KiB at most); and a talk about
  # code describes code: `<script>`, `../`, `SELECT … OR 1=1`, 169.254.169.254. meetstage
  # binds every SQL parameter and escapes every page, so the body rules only count here; the
  # rules on paths, queries and headers still block.
  count_rules = {
    AWSManagedRulesCommonRuleSet = [
      "SizeRestrictions_BODY", "CrossSiteScripting_BODY", "GenericLFI_BODY",
      "GenericRFI_BODY", "EC2MetaDataSSRF_BODY",
    ]
    AWSManagedRulesSQLiRuleSet = ["SQLi_BODY", "SQLiExtendedPatterns_BODY"]
  }
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
