//! Configuration: defaults, layering, validation, and secrets kept out of logs.

use super::*;

#[test]
fn defaults_need_no_configuration() {
    let c = Config::from_options(Options::default()).unwrap();
    assert_eq!(c.bind.to_string(), "127.0.0.1:8080");
    assert_eq!(c.base_url.as_str(), "http://127.0.0.1:8080/");
    assert_eq!(c.database_url, "sqlite://data/meetstage.db?mode=rwc");
    assert_eq!(c.mailer, MailerKind::Log);
    assert!(!c.is_https());
    assert_eq!(c.recording_min_free_bytes, 1024 * 1024 * 1024);
    assert_eq!(c.link("/events/1"), "http://127.0.0.1:8080/events/1");
    assert_eq!(c.media_max_connections, crate::media::embedded::MAX_PEERS);
}

#[test]
fn flags_and_variables_win_over_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("meetstage.toml");
    std::fs::write(&path, "community_name = \"From file\"\naccent_color = \"#112233\"\nfooter_links = [\"Code of conduct=https://example.org/coc\"]\n").unwrap();
    let cli = Options {
        config: Some(path),
        community_name: Some("From flag".into()),
        ..Options::default()
    };
    let c = Config::from_options(cli.with_file().unwrap()).unwrap();
    assert_eq!(c.branding.community_name, "From flag");
    assert_eq!(c.branding.accent_color, "#112233");
    assert_eq!(
        c.branding.footer_links,
        vec![(
            "Code of conduct".to_string(),
            "https://example.org/coc".to_string()
        )]
    );
}

#[test]
fn bad_values_are_refused_with_a_reason() {
    let bad = |o: Options| Config::from_options(o).unwrap_err().to_string();
    assert!(
        bad(Options {
            accent_color: Some("red".into()),
            ..Options::default()
        })
        .contains("accent_color")
    );
    assert!(
        bad(Options {
            database_url: Some("mysql://x".into()),
            ..Options::default()
        })
        .contains("database_url")
    );
    assert!(
        bad(Options {
            secret_key: Some(Secret::new("short")),
            ..Options::default()
        })
        .contains("at least 32")
    );
    assert!(
        bad(Options {
            mailer: Some("pigeon".into()),
            ..Options::default()
        })
        .contains("unknown mailer")
    );
    assert!(
        bad(Options {
            logo_url: Some("javascript:alert(1)".into()),
            ..Options::default()
        })
        .contains("logo_url")
    );
    assert!(
        bad(Options {
            recording_min_free_mb: Some(u64::MAX),
            ..Options::default()
        })
        .contains("recording_min_free_mb")
    );
    for n in [0, crate::media::embedded::MAX_PEERS + 1] {
        assert!(
            bad(Options {
                media_max_connections: Some(n),
                ..Options::default()
            })
            .contains("media_max_connections must be from 1 to 4096")
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("typo.toml");
    std::fs::write(&path, "comunity_name = \"x\"\n").unwrap();
    let err = Options {
        config: Some(path),
        ..Options::default()
    }
    .with_file()
    .err()
    .unwrap()
    .to_string();
    assert!(err.contains("unknown field"), "{err}");
}

#[test]
fn secrets_stay_out_of_debug_output() {
    let c = Config::from_options(Options {
        database_url: Some("postgres://app:hunter2hunter2@db/meetstage".into()),
        secret_key: Some(Secret::new("k".repeat(40))),
        base_url: Some("https://meet.example.org".parse().unwrap()),
        ..Options::default()
    })
    .unwrap();
    let shown = format!("{c:?}");
    assert!(
        !shown.contains("hunter2") && !shown.contains(&"k".repeat(40)),
        "{shown}"
    );
    assert!(shown.contains("REDACTED"));
    assert!(c.is_https());
}

#[test]
fn smtp_needs_a_url_and_production_refuses_the_log_mailer() {
    let err = |o: Options| Config::from_options(o).unwrap_err().to_string();
    assert!(
        err(Options {
            mailer: Some("smtp".into()),
            ..Options::default()
        })
        .contains("needs smtp_url")
    );
    assert!(
        err(Options {
            environment: Some("production".into()),
            ..Options::default()
        })
        .contains("would lose mail")
    );
    let smtp = Options {
        mailer: Some("smtp".into()),
        smtp_url: Some(Secret::new(
            "smtp://u:topsecret@mail.example.org:587?tls=required",
        )),
        environment: Some("production".into()),
        ..Options::default()
    };
    let c = Config::from_options(smtp).unwrap();
    let shown = format!("{c:?}");
    assert!(
        shown.contains("Smtp(smtp://mail.example.org)") && !shown.contains("topsecret"),
        "{shown}"
    );
}

#[test]
fn ses_needs_a_region_and_a_verified_from_address() {
    let err = |o: Options| Config::from_options(o).unwrap_err().to_string();
    let ses = || Options {
        mailer: Some("ses".into()),
        ses_region: Some("eu-west-1".into()),
        mail_from: Some("Meetup <events@example.org>".into()),
        environment: Some("production".into()),
        ..Options::default()
    };
    assert!(
        err(Options {
            ses_region: None,
            ..ses()
        })
        .contains("needs ses_region")
    );
    assert!(
        err(Options {
            ses_region: Some("Ireland".into()),
            ..ses()
        })
        .contains("needs ses_region")
    );
    assert!(
        err(Options {
            mail_from: None,
            ..ses()
        })
        .contains("needs mail_from")
    );
    let c = Config::from_options(Options {
        ses_configuration_set: Some("meetups".into()),
        ..ses()
    })
    .unwrap();
    assert_eq!(
        c.mailer,
        MailerKind::Ses(SesSettings {
            region: "eu-west-1".into(),
            configuration_set: Some("meetups".into()),
            from_arn: None,
            endpoint_url: None,
        })
    );
    assert!(is_aws_region("us-gov-east-1") && !is_aws_region("eu-west"));
}

#[test]
fn ivs_needs_a_region_a_key_and_both_recording_arns_or_neither() {
    let pem = "-----BEGIN PRIVATE KEY-----\nMIG2\n-----END PRIVATE KEY-----\n";
    let ivs = || Options {
        media_provider: Some("ivs".into()),
        ivs_region: Some("eu-west-1".into()),
        ivs_public_key_arn: Some("arn:aws:ivs:eu-west-1:123456789012:public-key/k".into()),
        ivs_private_key: Some(Secret::new(pem)),
        ..Options::default()
    };
    let bad = |o: Options| Config::from_options(o).unwrap_err().to_string();
    match Config::from_options(ivs()).unwrap().media {
        MediaKind::Ivs(s) => {
            assert_eq!(s.region, "eu-west-1");
            assert_eq!(s.recording, None);
            // The key stays out of logs.
            assert!(!format!("{s:?}").contains("MIG2"));
        }
        MediaKind::Embedded => panic!("ivs configured"),
    }
    assert!(matches!(
        Config::from_options(Options::default()).unwrap().media,
        MediaKind::Embedded
    ));
    assert!(
        bad(Options {
            media_provider: Some("zoom".into()),
            ..Options::default()
        })
        .contains("unknown media_provider `zoom`")
    );
    assert!(
        bad(Options {
            ivs_region: Some("Europe".into()),
            ..ivs()
        })
        .contains("ivs_region")
    );
    assert!(
        bad(Options {
            ivs_public_key_arn: Some("my-key".into()),
            ..ivs()
        })
        .contains("ivs_public_key_arn")
    );
    assert!(
        bad(Options {
            ivs_private_key: Some(Secret::new("hunter2")),
            ..ivs()
        })
        .contains("ivs_private_key")
    );
    let storage = "arn:aws:ivs:eu-west-1:123456789012:storage-configuration/s";
    assert!(
        bad(Options {
            ivs_storage_configuration_arn: Some(storage.into()),
            ..ivs()
        })
        .contains("needs both")
    );
    let recorded = || Options {
        ivs_storage_configuration_arn: Some(storage.into()),
        ivs_encoder_configuration_arn: Some(
            "arn:aws:ivs:eu-west-1:123456789012:encoder-configuration/e".into(),
        ),
        ..ivs()
    };
    // IVS writes to a bucket, which meetstage reads: the recording store must be it.
    assert!(bad(recorded()).contains("recording_store `s3`"));
    assert!(
        bad(Options {
            ivs_events_token: Some(Secret::new("short")),
            ..ivs()
        })
        .contains("ivs_events_token")
    );
    let both = Config::from_options(Options {
        recording_store: Some("s3".into()),
        recording_s3_bucket: Some("recordings".into()),
        recording_s3_region: Some("eu-west-1".into()),
        ..recorded()
    })
    .unwrap();
    let MediaKind::Ivs(s) = both.media else {
        panic!("ivs configured")
    };
    assert!(s.recording.is_some());
}

#[test]
fn ivs_chat_needs_a_region_and_derives_the_messaging_endpoint() {
    assert!(matches!(
        Config::from_options(Options::default()).unwrap().chat,
        ChatKind::Embedded
    ));
    let err = Config::from_options(Options {
        chat_provider: Some("ivs".into()),
        ..Options::default()
    })
    .unwrap_err()
    .to_string();
    assert!(err.contains("ivs_chat_region"), "{err}");
    // The media region serves when the chat has none of its own.
    let c = Config::from_options(Options {
        chat_provider: Some("ivs".into()),
        ivs_region: Some("eu-central-1".into()),
        ..Options::default()
    })
    .unwrap();
    let ChatKind::Ivs(s) = &c.chat else {
        panic!("ivs chat configured")
    };
    assert_eq!(s.region, "eu-central-1");
    assert_eq!(
        s.messaging_url.as_str(),
        "wss://edge.ivschat.eu-central-1.amazonaws.com/"
    );
    assert_eq!(
        c.remote_origins(),
        vec!["wss://edge.ivschat.eu-central-1.amazonaws.com".to_string()]
    );
    let err = Config::from_options(Options {
        chat_provider: Some("slack".into()),
        ..Options::default()
    })
    .unwrap_err()
    .to_string();
    assert!(err.contains("unknown chat_provider `slack`"), "{err}");
}

#[test]
fn an_s3_recording_store_needs_a_bucket_and_a_region_or_an_endpoint() {
    let with = |f: fn(&mut Options)| {
        let mut o = Options {
            recording_store: Some("s3".into()),
            ..Options::default()
        };
        f(&mut o);
        Config::from_options(o).map(|c| c.recording_store)
    };
    let err = with(|_| {}).unwrap_err().to_string();
    assert!(err.contains("recording_s3_bucket"), "{err}");
    let err = with(|o| o.recording_s3_bucket = Some("Bad_Bucket".into()))
        .unwrap_err()
        .to_string();
    assert!(err.contains("recording_s3_bucket"), "{err}");
    let err = with(|o| o.recording_s3_bucket = Some("recordings".into()))
        .unwrap_err()
        .to_string();
    assert!(err.contains("recording_s3_region"), "{err}");
    let err = with(|o| {
        o.recording_s3_bucket = Some("recordings".into());
        o.recording_s3_region = Some("eu-west-1".into());
        o.recording_s3_prefix = Some("../up".into());
    })
    .unwrap_err()
    .to_string();
    assert!(err.contains("recording_s3_prefix"), "{err}");
    // MinIO at an endpoint: path-style, a region to sign with, the default prefix.
    match with(|o| {
        o.recording_s3_bucket = Some("recordings".into());
        o.recording_s3_endpoint_url = Some("http://minio:9000".parse().unwrap());
    })
    .unwrap()
    {
        RecordingStoreKind::S3(s) => {
            assert_eq!(s.region, "us-east-1");
            assert_eq!(s.prefix, "vod/");
            assert_eq!(s.bucket, "recordings");
        }
        other => panic!("{other:?}"),
    }
    let err = Config::from_options(Options {
        recording_store: Some("ftp".into()),
        ..Options::default()
    })
    .unwrap_err()
    .to_string();
    assert!(err.contains("unknown recording_store"), "{err}");
    // Signed CloudFront delivery: all three options, and a key that parses.
    fn s3(o: &mut Options) {
        o.recording_s3_bucket = Some("recordings".into());
        o.recording_s3_region = Some("eu-west-1".into());
        o.recording_cdn_url = Some("https://media.example.org".parse().unwrap());
    }
    let err = with(s3).unwrap_err().to_string();
    assert!(err.contains("together"), "{err}");
    let err = with(|o| {
        s3(o);
        o.recording_cdn_key_pair_id = Some("K2JCJMDEHXQW5F".into());
        o.recording_cdn_private_key = Some(Secret::new("-----BEGIN RSA PRIVATE KEY-----"));
    })
    .unwrap_err()
    .to_string();
    assert!(err.contains("not an RSA private key"), "{err}");
}

#[test]
fn ivs_prices_are_dollars_and_the_ceiling_needs_the_participant_price() {
    let with = |f: fn(&mut Options)| {
        let mut o = Options::default();
        f(&mut o);
        Config::from_options(o)
    };
    let c = with(|o| {
        o.ivs_participant_hour_usd = Some("0.072".into());
        o.ivs_composition_hour_usd = Some("0.3".into());
        o.ivs_chat_per_1000_usd = Some("0.00225,0.0002".into());
        o.ivs_monthly_ceiling_usd = Some("200".into());
    })
    .unwrap();
    assert_eq!(
        c.ivs_costs,
        IvsCosts {
            participant_hour: Some(Usd(72_000_000)),
            composition_hour: Some(Usd(300_000_000)),
            chat_per_1000: Some((Usd(2_250_000), Usd(200_000))),
            monthly_ceiling: Some(Usd(200_000_000_000)),
        }
    );
    assert_eq!(
        Config::from_options(Options::default()).unwrap().ivs_costs,
        IvsCosts::default()
    );
    let refused = |f: fn(&mut Options), says: &str| {
        let Err(ConfigError(e)) = with(f) else {
            panic!("accepted; expected {says}")
        };
        assert!(e.contains(says), "{e}");
    };
    refused(
        |o| o.ivs_monthly_ceiling_usd = Some("200".into()),
        "needs ivs_participant_hour_usd",
    );
    refused(
        |o| o.ivs_participant_hour_usd = Some("$0.07".into()),
        "ivs_participant_hour_usd `$0.07`",
    );
    refused(
        |o| o.ivs_chat_per_1000_usd = Some("0.002".into()),
        "two prices",
    );
    refused(
        |o| o.ivs_chat_per_1000_usd = Some("0.002,x".into()),
        "ivs_chat_per_1000_usd `x`",
    );
}
