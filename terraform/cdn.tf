# Recordings are served through CloudFront from the private bucket (origin access control),
# HTTPS only, behind its own web ACL. Only signed URLs are honoured: meetstage checks who may
# watch, then signs a short grant for the one recording with the key CloudFront trusts.

resource "aws_cloudfront_origin_access_control" "recordings" {
  name                              = "${var.name}-recordings"
  origin_access_control_origin_type = "s3"
  signing_behavior                  = "always"
  signing_protocol                  = "sigv4"
}

data "aws_cloudfront_cache_policy" "optimized" {
  name = "Managed-CachingOptimized"
}

resource "aws_cloudfront_public_key" "recordings" {
  name        = "${var.name}-recordings"
  comment     = "meetstage signs recording URLs with the private half (cdn-private-key secret)"
  encoded_key = var.cdn_public_key_pem
}

resource "aws_cloudfront_key_group" "recordings" {
  name  = "${var.name}-recordings"
  items = [aws_cloudfront_public_key.recordings.id]
}

# The security headers, and CORS for the site itself: hls.js on the replay page fetches the
# segments from this distribution.
resource "aws_cloudfront_response_headers_policy" "recordings" {
  name = "${var.name}-recordings"
  cors_config {
    access_control_allow_credentials = false
    access_control_allow_headers {
      items = ["Range"]
    }
    access_control_allow_methods {
      items = ["GET", "HEAD"]
    }
    access_control_allow_origins {
      items = ["https://${var.domain}"]
    }
    access_control_expose_headers {
      items = ["Content-Length", "Content-Range"]
    }
    access_control_max_age_sec = 3600
    origin_override            = true
  }
  security_headers_config {
    content_type_options {
      override = true
    }
    frame_options {
      frame_option = "DENY"
      override     = true
    }
    referrer_policy {
      referrer_policy = "strict-origin-when-cross-origin"
      override        = true
    }
    strict_transport_security {
      access_control_max_age_sec = 31536000
      include_subdomains         = true
      preload                    = true
      override                   = true
    }
  }
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
    target_origin_id       = "recordings"
    viewer_protocol_policy = "redirect-to-https"
    allowed_methods        = ["GET", "HEAD", "OPTIONS"]
    cached_methods         = ["GET", "HEAD"]
    compress               = true
    # The signature is in the query, which the cache key leaves out: one copy per segment.
    cache_policy_id            = data.aws_cloudfront_cache_policy.optimized.id
    response_headers_policy_id = aws_cloudfront_response_headers_policy.recordings.id
    trusted_key_groups         = [aws_cloudfront_key_group.recordings.id]
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

  # Standard logs are written with ACLs, which the logs bucket allows once its ownership
  # controls are in place.
  depends_on = [aws_s3_bucket_ownership_controls.logs]
}
