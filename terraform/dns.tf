# Certificates validated through DNS, and the site's and the CDN's names.

resource "aws_acm_certificate" "site" {
  domain_name       = var.domain
  validation_method = "DNS"
  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_acm_certificate" "cdn" {
  provider          = aws.us_east_1
  domain_name       = local.cdn_domain
  validation_method = "DNS"
  lifecycle {
    create_before_destroy = true
  }
}

# Both certificates' DNS validation records, keyed by the name they validate.
resource "aws_route53_record" "validation" {
  for_each = {
    for o in concat(
      tolist(aws_acm_certificate.site.domain_validation_options),
      tolist(aws_acm_certificate.cdn.domain_validation_options),
    ) : o.domain_name => o
  }
  zone_id = var.hosted_zone_id
  name    = each.value.resource_record_name
  type    = each.value.resource_record_type
  records = [each.value.resource_record_value]
  ttl     = 300
}

resource "aws_acm_certificate_validation" "site" {
  certificate_arn         = aws_acm_certificate.site.arn
  validation_record_fqdns = [aws_route53_record.validation[var.domain].fqdn]
}

resource "aws_acm_certificate_validation" "cdn" {
  provider                = aws.us_east_1
  certificate_arn         = aws_acm_certificate.cdn.arn
  validation_record_fqdns = [aws_route53_record.validation[local.cdn_domain].fqdn]
}

# The load balancer listens on IPv4 only, so the site has an A record and no AAAA.
resource "aws_route53_record" "site" {
  zone_id = var.hosted_zone_id
  name    = var.domain
  type    = "A"
  alias {
    name                   = aws_lb.main.dns_name
    zone_id                = aws_lb.main.zone_id
    evaluate_target_health = true
  }
}

resource "aws_route53_record" "cdn" {
  for_each = toset(["A", "AAAA"])
  zone_id  = var.hosted_zone_id
  name     = local.cdn_domain
  type     = each.value
  alias {
    name                   = aws_cloudfront_distribution.media.domain_name
    zone_id                = aws_cloudfront_distribution.media.hosted_zone_id
    evaluate_target_health = false
  }
}
