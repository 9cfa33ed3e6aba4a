terraform {
  # S3's native state lock (use_lockfile) needs 1.10.
  required_version = ">= 1.10"

  # The state holds the database password and the secret key: it lives in the encrypted,
  # versioned bucket terraform/bootstrap makes (`terraform init -backend-config=backend.hcl`).
  backend "s3" {}

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.80"
    }
    # IVS Real-Time storage and encoder configurations and the imported public key exist
    # only in the Cloud Control provider.
    random = {
      source  = "hashicorp/random"
      version = "~> 3.6"
    }
    awscc = {
      source  = "hashicorp/awscc"
      version = "~> 1.25"
    }
  }
}

provider "aws" {
  region = var.region
  default_tags {
    tags = local.tags
  }
}

# CloudFront's certificate and web ACL live in us-east-1, whatever the region.
provider "aws" {
  alias  = "us_east_1"
  region = "us-east-1"
  default_tags {
    tags = local.tags
  }
}

provider "awscc" {
  region = var.region
}
