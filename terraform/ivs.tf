# Amazon IVS Real-Time: the public key stage tokens are verified with (meetstage holds the
# private half), and where and how composed recordings are written. Stages themselves are
# made and deleted by meetstage, one per event.

resource "awscc_ivs_public_key" "tokens" {
  name                = "${var.name}-tokens"
  public_key_material = var.ivs_public_key_pem
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
