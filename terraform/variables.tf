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
  description = "AWS region for everything but CloudFront's certificate and web ACL."
  type        = string
  default     = "eu-west-1"
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
  description = "Shown in the header, page titles and mail."
  type        = string
  default     = "meetstage"
}

variable "image" {
  description = "Container image to run; defaults to the `latest` tag of the ECR repository made here."
  type        = string
  default     = ""
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

variable "alarm_email" {
  description = "Where alarms are mailed (confirm the subscription from the first mail); empty for none."
  type        = string
  default     = ""
}

variable "ivs_public_key_pem" {
  description = "The P-384 public key (PEM) whose private half meetstage signs stage tokens with (docs/deploy-aws.md)."
  type        = string
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
  description = "Requests per client IP per five minutes before WAF blocks it: a backstop above meetstage's own limits (500 a minute for a signed-in person)."
  type        = number
  default     = 3000
}

variable "shutdown_grace_seconds" {
  description = "Seconds a stopping task keeps serving requests in flight (MEETSTAGE_SHUTDOWN_GRACE_SECS); the load balancer drains for as long."
  type        = number
  default     = 30
}
