# Amazon IVS Real-Time: the public key stage tokens are verified with (meetstage holds the
# private half), and where and how composed recordings are written. Stages themselves are
# made and deleted by meetstage, one per event.

# Two slots for the token key, so it can be rotated with no failed join (docs/deploy-aws.md):
# the new key is imported beside the old, meetstage switches to it, and the old one goes
# once the tokens it signed have expired (an hour).
locals {
  ivs_keys = {
    for slot, pem in { a = var.ivs_public_key_pem, b = var.ivs_public_key_pem_b } : slot => pem if pem != ""
  }
}

resource "awscc_ivs_public_key" "tokens" {
  for_each = local.ivs_keys
  # Slot a keeps the name it always had, so upgrading replaces nothing.
  name                = each.key == "a" ? "${var.name}-tokens" : "${var.name}-tokens-b"
  public_key_material = each.value
}

moved {
  from = awscc_ivs_public_key.tokens
  to   = awscc_ivs_public_key.tokens["a"]
}

resource "awscc_ivs_storage_configuration" "recordings" {
  name = "${var.name}-recordings"
  # IVS edits the bucket policy when this is created; ours (with the same grant) goes first.
  depends_on = [aws_s3_bucket_policy.recordings]
  s3 = {
    bucket_name = aws_s3_bucket.recordings.id
  }
}

resource "awscc_ivs_encoder_configuration" "recordings" {
  name = "${var.name}-720p"
  video = {
    width     = 1280
    height    = 720
    framerate = 30
    bitrate   = 2500000
  }
}
