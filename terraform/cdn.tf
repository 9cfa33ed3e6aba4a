# Recordings are served through CloudFront from the private bucket (origin access control),
# HTTPS only, behind its own web ACL.

resource "aws_cloudfront_origin_access_control" "recordings" {
  name                              = "${var.name}-recordings"
  origin_access_control_origin_type = "s3"
  signing_behavior                  = "always"
  signing_protocol                  = "sigv4"
}

data "aws_cloudfront_cache_policy" "optimized" {
  name = "Managed-CachingOptimized"
}

data "aws_cloudfront_response_headers_policy" "security" {
  name = "Managed-SecurityHeadersPolicy"
}

resource "aws_cloudfront_distribution" "media" {
  #checkov:skip=CKV_AWS_374:a user group's members watch from anywhere
  #checkov:skip=CKV_AWS_310:one origin bucket; a replica would double recording storage for a non-critical path
  #checkov:skip=CKV_AWS_305:serves recording files by path only; there is no index document
  enabled         = true
  comment         = "${var.name} recordings"
  aliases         = [local.cdn_domain]
  price_class     = "PriceClass_100"
  http_version    = "http2and3"
  is_ipv6_enabled = true
  web_acl_id      = module.waf_cdn.arn

  origin {
    origin_id                = "recordings"
    domain_name              = aws_s3_bucket.recordings.bucket_regional_domain_name
    origin_access_control_id = aws_cloudfront_origin_access_control.recordings.id
  }

  default_cache_behavior {
    target_origin_id           = "recordings"
    viewer_protocol_policy     = "redirect-to-https"
    allowed_methods            = ["GET", "HEAD", "OPTIONS"]
    cached_methods             = ["GET", "HEAD"]
    compress                   = true
    cache_policy_id            = data.aws_cloudfront_cache_policy.optimized.id
    response_headers_policy_id = data.aws_cloudfront_response_headers_policy.security.id
  }

  restrictions {
    geo_restriction {
      restriction_type = "none"
    }
  }

  viewer_certificate {
    acm_certificate_arn      = aws_acm_certificate_validation.cdn.certificate_arn
    ssl_support_method       = "sni-only"
    minimum_protocol_version = "TLSv1.2_2021"
  }

  logging_config {
    bucket = aws_s3_bucket.logs.bucket_domain_name
    prefix = "cloudfront/"
  }
}
