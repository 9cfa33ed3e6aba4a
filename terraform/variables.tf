variable "name" {
  description = "Short name for every resource (letters, digits, dashes)."
  type        = string
  default     = "meetstage"
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,20}$", var.name))
    error_message = "name: 2 to 21 lower-case letters, digits and dashes, starting with a letter."
  }
}

variable "region" {
  description = "AWS region for everything but CloudFront's certificate and web ACL: one where Amazon IVS Real-Time and IVS Chat both run."
  type        = string
  default     = "eu-west-1"
  validation {
    condition = contains([
      "us-east-1", "us-west-2", "eu-west-1", "eu-central-1",
      "ap-northeast-1", "ap-northeast-2", "ap-south-1",
    ], var.region)
    error_message = "IVS Real-Time and IVS Chat run in us-east-1, us-west-2, eu-west-1, eu-central-1, ap-northeast-1, ap-northeast-2 and ap-south-1 only."
  }
}

variable "domain" {
  description = "The site's domain, e.g. meetups.example.org; a Route 53 hosted zone must hold it."
  type        = string
}

variable "hosted_zone_id" {
  description = "Route 53 hosted zone that holds `domain`."
  type        = string
}

variable "mail_from" {
  description = "Sender address of every mail, at `domain` or a subdomain of it, e.g. events@meetups.example.org."
  type        = string
}

variable "community_name" {
  description = "Shown in the header, page titles and mail (the sender's name, quoted)."
  type        = string
  default     = "meetstage"
  validation {
    condition     = length(var.community_name) <= 80 && !can(regex("[\"\\\\<>\\n\\r]", var.community_name))
    error_message = "community_name: at most 80 characters, without quotes, backslashes, angle brackets or line breaks."
  }
}

variable "manage_dmarc" {
  description = "Create the mail domain's _dmarc record; false when the domain already has one."
  type        = bool
  default     = true
}

variable "image" {
  description = "Container image to run, by its tag or digest in the ECR repository made here (docs/deploy-aws.md): the repository's tags are immutable, so every deploy names a new one."
  type        = string
  validation {
    condition     = can(regex("^[^:@]+(:[A-Za-z0-9_.-]+|@sha256:[0-9a-f]{64})$", var.image)) && !endswith(var.image, ":latest")
    error_message = "image: <repository>:<tag> or <repository>@sha256:<digest>, not :latest."
  }
}

variable "task_cpu" {
  description = "Fargate task CPU units (1024 = one vCPU)."
  type        = number
  default     = 512
}

variable "task_memory" {
  description = "Fargate task memory in MiB."
  type        = number
  default     = 1024
}

variable "task_count" {
  description = "Tasks to run. With Postgres, live rooms span tasks; the IVS provider carries media."
  type        = number
  default     = 2
}

variable "db_instance_class" {
  description = "RDS instance class."
  type        = string
  default     = "db.t4g.micro"
}

variable "db_storage_gb" {
  description = "RDS allocated storage in GiB (grows automatically up to four times this)."
  type        = number
  default     = 20
}

variable "db_multi_az" {
  description = "A standby database in a second zone (twice the database cost)."
  type        = bool
  default     = false
}

variable "backup_region" {
  description = "A second region the database's automated backups are copied to (7 days); empty for none."
  type        = string
  default     = ""
  validation {
    condition     = var.backup_region == "" || (can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", var.backup_region)) && var.backup_region != var.region)
    error_message = "backup_region: empty, or a region other than `region`, e.g. eu-central-1."
  }
}

variable "ivs_prices_usd" {
  description = "Amazon IVS prices in US dollars for this region, from aws.amazon.com/ivs/pricing (per participant-hour, per composition hour, per 1,000 chat messages sent and delivered): organizers then see each event's estimated cost, and the monthly ceiling is checked against them. Null: quantities only."
  type = object({
    participant_hour        = string
    composition_hour        = string
    chat_sent_per_1000      = optional(string, "0")
    chat_delivered_per_1000 = optional(string, "0")
  })
  default = null
  validation {
    condition     = var.ivs_prices_usd == null ? true : alltrue([for v in values(var.ivs_prices_usd) : can(regex("^[0-9]{1,7}(\\.[0-9]{1,9})?$", v))])
    error_message = "ivs_prices_usd: each price is a number of dollars such as \"0.072\" (at most 9 decimals)."
  }
}

variable "ivs_monthly_ceiling_usd" {
  description = "The most events may spend on IVS in a calendar month, in US dollars: once this month's measured use reaches it, going live on IVS is refused until the next month. Needs ivs_prices_usd. Null: no ceiling (the budget alarm still warns)."
  type        = number
  default     = null
  validation {
    condition     = var.ivs_monthly_ceiling_usd == null ? true : (var.ivs_monthly_ceiling_usd > 0 && var.ivs_prices_usd != null)
    error_message = "ivs_monthly_ceiling_usd must be above zero, and needs ivs_prices_usd to measure against."
  }
}

variable "monthly_budget_usd" {
  description = "What the deployment may cost a month, in US dollars: the alarm topic hears when the forecast passes 80% of it and when the spend passes it."
  type        = number
  default     = 200
  validation {
    condition     = var.monthly_budget_usd > 0
    error_message = "monthly_budget_usd must be above zero."
  }
}

variable "alarm_email" {
  description = "Where alarms are mailed (confirm the subscription from the first mail); empty for none."
  type        = string
  default     = ""
}

variable "ivs_public_key_pem" {
  description = "The P-384 public key (PEM) of token key slot a; meetstage signs stage tokens with the private half of the slot `ivs_signing_key` names (docs/deploy-aws.md). Empty once a rotation to slot b is done."
  type        = string
  default     = ""
}

variable "ivs_public_key_pem_b" {
  description = "The public key (PEM) of token key slot b, for a rotation (docs/deploy-aws.md); empty when unused."
  type        = string
  default     = ""
}

variable "ivs_signing_key" {
  description = "The token key slot meetstage signs with: a or b. Its private half is in the ivs-private-key secret."
  type        = string
  default     = "a"
  validation {
    condition     = contains(["a", "b"], var.ivs_signing_key)
    error_message = "ivs_signing_key: a or b."
  }
  validation {
    condition     = (var.ivs_signing_key == "a" ? var.ivs_public_key_pem : var.ivs_public_key_pem_b) != ""
    error_message = "The slot ivs_signing_key names needs its public key (ivs_public_key_pem or ivs_public_key_pem_b)."
  }
}

variable "cdn_public_key_pem" {
  description = "The RSA 2048 public key (PEM) CloudFront verifies recording URLs with; meetstage signs them with its private half, kept in the cdn-private-key secret (docs/deploy-aws.md)."
  type        = string
}

variable "task_disk_gib" {
  description = "Fargate ephemeral storage in GiB: after an event, its recording is fetched, joined and cut here (about three times the video: 10 GiB for a 3-hour 720p event)."
  type        = number
  default     = 60
  validation {
    condition     = var.task_disk_gib >= 21 && var.task_disk_gib <= 200
    error_message = "Fargate allows 21 to 200 GiB."
  }
}

variable "ivs_chat" {
  description = "Deliver group chat through Amazon IVS Chat (one room per event; billed per message sent and delivered) instead of meetstage's own sockets."
  type        = bool
  default     = false
}

variable "rate_limit_per_5_min" {
  description = "Requests per client IP per five minutes before WAF blocks it: a backstop above meetstage's own limits (500 a minute for a signed-in person). Where a whole venue shares one address (a conference hall, an office), raise it: about 60 per person present."
  type        = number
  default     = 3000
  validation {
    condition     = var.rate_limit_per_5_min >= 100 && var.rate_limit_per_5_min <= 2000000000
    error_message = "rate_limit_per_5_min: 100 to 2,000,000,000 (WAF's range)."
  }
}

variable "shutdown_grace_seconds" {
  description = "Seconds a stopping task keeps serving requests in flight (MEETSTAGE_SHUTDOWN_GRACE_SECS); the load balancer drains for as long."
  type        = number
  default     = 30
}
