//! Every distribution the indexer must recognise, from the release files of the distributions'
//! own container images (copied as they are, comments and odd quoting included), and from the
//! older files (`*-release`, `lsb-release`, `issue`) images without `os-release` still have.

use berth_detect::os_release::OsReleaseDetector;
use berth_detect::{Candidate, Detector, Distribution, MemFiles};

fn detect(files: &[(&str, &str)]) -> Distribution {
    let mut m = MemFiles::new();
    for (p, c) in files {
        assert!(
            OsReleaseDetector.wants(&Candidate::file(p, c.len() as u64)),
            "{p}"
        );
        m.insert(p, c.as_bytes().to_vec());
    }
    let det = OsReleaseDetector.detect(&m).unwrap();
    det.distribution()
        .unwrap_or_else(|| panic!("no distribution in {files:?}"))
        .clone()
}

/// `(image, os-release, ID, VERSION_ID, codename, CPE)`.
type Case = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    Option<&'static str>,
);

const OS_RELEASE: &[Case] = &[
    (
        "debian:12",
        "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nVERSION=\"12 (bookworm)\"\nVERSION_CODENAME=bookworm\nID=debian\nHOME_URL=\"https://www.debian.org/\"\nSUPPORT_URL=\"https://www.debian.org/support\"\nBUG_REPORT_URL=\"https://bugs.debian.org/\"\n",
        "debian",
        "12",
        "bookworm",
        None,
    ),
    (
        "ubuntu:22.04",
        "PRETTY_NAME=\"Ubuntu 22.04.4 LTS\"\nNAME=\"Ubuntu\"\nVERSION_ID=\"22.04\"\nVERSION=\"22.04.4 LTS (Jammy Jellyfish)\"\nVERSION_CODENAME=jammy\nID=ubuntu\nID_LIKE=debian\nHOME_URL=\"https://www.ubuntu.com/\"\nSUPPORT_URL=\"https://help.ubuntu.com/\"\nBUG_REPORT_URL=\"https://bugs.launchpad.net/ubuntu/\"\nPRIVACY_POLICY_URL=\"https://www.ubuntu.com/legal/terms-and-policies/privacy-policy\"\nUBUNTU_CODENAME=jammy\n",
        "ubuntu",
        "22.04",
        "jammy",
        None,
    ),
    (
        "alpine:3.19",
        "NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.19.1\nPRETTY_NAME=\"Alpine Linux v3.19\"\nHOME_URL=\"https://alpinelinux.org/\"\nBUG_REPORT_URL=\"https://gitlab.alpinelinux.org/alpine/aports/-/issues\"\n",
        "alpine",
        "3.19.1",
        "",
        None,
    ),
    (
        "ubi8 (Red Hat Universal Base Image)",
        "NAME=\"Red Hat Enterprise Linux\"\nVERSION=\"8.9 (Ootpa)\"\nID=\"rhel\"\nID_LIKE=\"fedora\"\nVERSION_ID=\"8.9\"\nPLATFORM_ID=\"platform:el8\"\nPRETTY_NAME=\"Red Hat Enterprise Linux 8.9 (Ootpa)\"\nANSI_COLOR=\"0;31\"\nLOGO=\"fedora-logo-icon\"\nCPE_NAME=\"cpe:/o:redhat:enterprise_linux:8::baseos\"\nHOME_URL=\"https://www.redhat.com/\"\nDOCUMENTATION_URL=\"https://access.redhat.com/documentation/en-us/red_hat_enterprise_linux/8\"\nBUG_REPORT_URL=\"https://bugzilla.redhat.com/\"\n\nREDHAT_BUGZILLA_PRODUCT=\"Red Hat Enterprise Linux 8\"\nREDHAT_BUGZILLA_PRODUCT_VERSION=8.9\nREDHAT_SUPPORT_PRODUCT=\"Red Hat Enterprise Linux\"\nREDHAT_SUPPORT_PRODUCT_VERSION=\"8.9\"\n",
        "rhel",
        "8.9",
        "",
        Some("cpe:/o:redhat:enterprise_linux:8::baseos"),
    ),
    (
        "centos:7",
        "NAME=\"CentOS Linux\"\nVERSION=\"7 (Core)\"\nID=\"centos\"\nID_LIKE=\"rhel fedora\"\nVERSION_ID=\"7\"\nPRETTY_NAME=\"CentOS Linux 7 (Core)\"\nANSI_COLOR=\"0;31\"\nCPE_NAME=\"cpe:/o:centos:centos:7\"\nHOME_URL=\"https://www.centos.org/\"\nBUG_REPORT_URL=\"https://bugs.centos.org/\"\n\nCENTOS_MANTISBT_PROJECT=\"CentOS-7\"\nCENTOS_MANTISBT_PROJECT_VERSION=\"7\"\nREDHAT_SUPPORT_PRODUCT=\"centos\"\nREDHAT_SUPPORT_PRODUCT_VERSION=\"7\"\n\n",
        "centos",
        "7",
        "",
        Some("cpe:/o:centos:centos:7"),
    ),
    (
        "rockylinux:9",
        "NAME=\"Rocky Linux\"\nVERSION=\"9.3 (Blue Onyx)\"\nID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\nVERSION_ID=\"9.3\"\nPLATFORM_ID=\"platform:el9\"\nPRETTY_NAME=\"Rocky Linux 9.3 (Blue Onyx)\"\nANSI_COLOR=\"0;32\"\nLOGO=\"fedora-logo-icon\"\nCPE_NAME=\"cpe:/o:rocky:rocky:9::baseos\"\nHOME_URL=\"https://rockylinux.org/\"\nBUG_REPORT_URL=\"https://bugs.rockylinux.org/\"\nSUPPORT_END=\"2032-05-31\"\nROCKY_SUPPORT_PRODUCT=\"Rocky-Linux-9\"\nROCKY_SUPPORT_PRODUCT_VERSION=\"9.3\"\nREDHAT_SUPPORT_PRODUCT=\"Rocky Linux\"\nREDHAT_SUPPORT_PRODUCT_VERSION=\"9.3\"\n",
        "rocky",
        "9.3",
        "",
        Some("cpe:/o:rocky:rocky:9::baseos"),
    ),
    (
        "almalinux:9",
        "NAME=\"AlmaLinux\"\nVERSION=\"9.3 (Shamrock Pampas Cat)\"\nID=\"almalinux\"\nID_LIKE=\"rhel centos fedora\"\nVERSION_ID=\"9.3\"\nPLATFORM_ID=\"platform:el9\"\nPRETTY_NAME=\"AlmaLinux 9.3 (Shamrock Pampas Cat)\"\nANSI_COLOR=\"0;34\"\nLOGO=\"fedora-logo-icon\"\nCPE_NAME=\"cpe:/o:almalinux:almalinux:9::baseos\"\nHOME_URL=\"https://almalinux.org/\"\nDOCUMENTATION_URL=\"https://wiki.almalinux.org/\"\nBUG_REPORT_URL=\"https://bugs.almalinux.org/\"\n\nALMALINUX_MANTISBT_PROJECT=\"AlmaLinux-9\"\nALMALINUX_MANTISBT_PROJECT_VERSION=\"9.3\"\nREDHAT_SUPPORT_PRODUCT=\"AlmaLinux\"\nREDHAT_SUPPORT_PRODUCT_VERSION=\"9.3\"\n",
        "almalinux",
        "9.3",
        "",
        Some("cpe:/o:almalinux:almalinux:9::baseos"),
    ),
    (
        "fedora:39",
        "NAME=\"Fedora Linux\"\nVERSION=\"39 (Container Image)\"\nID=fedora\nVERSION_ID=39\nVERSION_CODENAME=\"\"\nPLATFORM_ID=\"platform:f39\"\nPRETTY_NAME=\"Fedora Linux 39 (Container Image)\"\nANSI_COLOR=\"0;38;2;60;110;180\"\nLOGO=fedora-logo-icon\nCPE_NAME=\"cpe:/o:fedoraproject:fedora:39\"\nDEFAULT_HOSTNAME=\"fedora\"\nHOME_URL=\"https://fedoraproject.org/\"\nDOCUMENTATION_URL=\"https://docs.fedoraproject.org/en-US/fedora/f39/system-administrators-guide/\"\nSUPPORT_URL=\"https://ask.fedoraproject.org/\"\nBUG_REPORT_URL=\"https://bugzilla.redhat.com/\"\nREDHAT_BUGZILLA_PRODUCT=\"Fedora\"\nREDHAT_BUGZILLA_PRODUCT_VERSION=39\nREDHAT_SUPPORT_PRODUCT=\"Fedora\"\nREDHAT_SUPPORT_PRODUCT_VERSION=39\nSUPPORT_END=2024-11-12\nVARIANT=\"Container Image\"\nVARIANT_ID=container\n",
        "fedora",
        "39",
        "",
        Some("cpe:/o:fedoraproject:fedora:39"),
    ),
    (
        "oraclelinux:9",
        "NAME=\"Oracle Linux Server\"\nVERSION=\"9.3\"\nID=\"ol\"\nID_LIKE=\"fedora\"\nVARIANT=\"Server\"\nVARIANT_ID=\"server\"\nVERSION_ID=\"9.3\"\nPLATFORM_ID=\"platform:el9\"\nPRETTY_NAME=\"Oracle Linux Server 9.3\"\nANSI_COLOR=\"0;31\"\nCPE_NAME=\"cpe:/o:oracle:linux:9:3:server\"\nHOME_URL=\"https://linux.oracle.com/\"\nBUG_REPORT_URL=\"https://github.com/oracle/oracle-linux\"\n\nORACLE_BUGZILLA_PRODUCT=\"Oracle Linux 9\"\nORACLE_BUGZILLA_PRODUCT_VERSION=9.3\nORACLE_SUPPORT_PRODUCT=\"Oracle Linux\"\nORACLE_SUPPORT_PRODUCT_VERSION=9.3\n",
        "ol",
        "9.3",
        "",
        Some("cpe:/o:oracle:linux:9:3:server"),
    ),
    (
        "amazonlinux:2023",
        "NAME=\"Amazon Linux\"\nVERSION=\"2023\"\nID=\"amzn\"\nID_LIKE=\"fedora\"\nVERSION_ID=\"2023\"\nPLATFORM_ID=\"platform:al2023\"\nPRETTY_NAME=\"Amazon Linux 2023.3.20240312\"\nANSI_COLOR=\"0;33\"\nCPE_NAME=\"cpe:2.3:o:amazon:amazon_linux:2023\"\nHOME_URL=\"https://aws.amazon.com/linux/amazon-linux-2023/\"\nDOCUMENTATION_URL=\"https://docs.aws.amazon.com/linux/\"\nSUPPORT_URL=\"https://aws.amazon.com/premiumsupport/\"\nBUG_REPORT_URL=\"https://github.com/amazonlinux/amazon-linux-2023\"\nVENDOR_NAME=\"AWS\"\nVENDOR_URL=\"https://aws.amazon.com/\"\nSUPPORT_END=\"2028-03-15\"\n",
        "amzn",
        "2023",
        "",
        Some("cpe:2.3:o:amazon:amazon_linux:2023"),
    ),
    (
        "amazonlinux:2",
        "NAME=\"Amazon Linux\"\nVERSION=\"2\"\nID=\"amzn\"\nID_LIKE=\"centos rhel fedora\"\nVERSION_ID=\"2\"\nPRETTY_NAME=\"Amazon Linux 2\"\nANSI_COLOR=\"0;33\"\nCPE_NAME=\"cpe:2.3:o:amazon:amazon_linux:2\"\nHOME_URL=\"https://amazonlinux.com/\"\n",
        "amzn",
        "2",
        "",
        Some("cpe:2.3:o:amazon:amazon_linux:2"),
    ),
    (
        "suse/sle15:15.5",
        "NAME=\"SLES\"\nVERSION=\"15-SP5\"\nVERSION_ID=\"15.5\"\nPRETTY_NAME=\"SUSE Linux Enterprise Server 15 SP5\"\nID=\"sles\"\nID_LIKE=\"suse\"\nANSI_COLOR=\"0;32\"\nCPE_NAME=\"cpe:/o:suse:sles:15:sp5\"\nDOCUMENTATION_URL=\"https://documentation.suse.com/\"\n",
        "sles",
        "15.5",
        "",
        Some("cpe:/o:suse:sles:15:sp5"),
    ),
    (
        "opensuse/leap:15.5",
        "NAME=\"openSUSE Leap\"\nVERSION=\"15.5\"\nID=\"opensuse-leap\"\nID_LIKE=\"suse opensuse\"\nVERSION_ID=\"15.5\"\nPRETTY_NAME=\"openSUSE Leap 15.5\"\nANSI_COLOR=\"0;32\"\nCPE_NAME=\"cpe:/o:opensuse:leap:15.5\"\nBUG_REPORT_URL=\"https://bugs.opensuse.org\"\nHOME_URL=\"https://www.opensuse.org/\"\nDOCUMENTATION_URL=\"https://en.opensuse.org/Portal:Leap\"\nLOGO=\"distributor-logo-Leap\"\n",
        "opensuse-leap",
        "15.5",
        "",
        Some("cpe:/o:opensuse:leap:15.5"),
    ),
    (
        "opensuse/tumbleweed",
        "NAME=\"openSUSE Tumbleweed\"\n# VERSION=\"20240329\"\nID=\"opensuse-tumbleweed\"\nID_LIKE=\"opensuse suse\"\nVERSION_ID=\"20240329\"\nPRETTY_NAME=\"openSUSE Tumbleweed\"\nANSI_COLOR=\"0;32\"\n# CPE 2.3 format, boo#1217921\nCPE_NAME=\"cpe:2.3:o:opensuse:tumbleweed:20240329:*:*:*:*:*:*:*\"\n#CPE 2.2 format\n#CPE_NAME=\"cpe:/o:opensuse:tumbleweed:20240329\"\nBUG_REPORT_URL=\"https://bugzilla.opensuse.org\"\nSUPPORT_URL=\"https://bugs.opensuse.org\"\nHOME_URL=\"https://www.opensuse.org\"\nDOCUMENTATION_URL=\"https://en.opensuse.org/Portal:Tumbleweed\"\nLOGO=\"distributor-logo-Tumbleweed\"\n",
        "opensuse-tumbleweed",
        "20240329",
        "",
        Some("cpe:2.3:o:opensuse:tumbleweed:20240329:*:*:*:*:*:*:*"),
    ),
    (
        "photon:5.0",
        "NAME=\"VMware Photon OS\"\nVERSION=\"5.0\"\nID=photon\nVERSION_ID=5.0\nPRETTY_NAME=\"VMware Photon OS/Linux\"\nANSI_COLOR=\"1;34\"\nHOME_URL=\"https://vmware.github.io/photon/\"\nBUG_REPORT_URL=\"https://github.com/vmware/photon/issues\"\n",
        "photon",
        "5.0",
        "",
        None,
    ),
    (
        "wolfi-base",
        "ID=wolfi\nNAME=\"Wolfi\"\nPRETTY_NAME=\"Wolfi\"\nVERSION_ID=\"20230201\"\nHOME_URL=\"https://wolfi.dev\"\n",
        "wolfi",
        "20230201",
        "",
        None,
    ),
    (
        "chainguard (Chainguard OS)",
        "ID=chainguard\nNAME=\"Chainguard\"\nPRETTY_NAME=\"Chainguard\"\nVERSION_ID=\"20230214\"\nHOME_URL=\"https://chainguard.dev/\"\n",
        "chainguard",
        "20230214",
        "",
        None,
    ),
    (
        "distroless/static-debian12",
        "PRETTY_NAME=\"Distroless\"\nNAME=\"Debian GNU/Linux\"\nID=\"debian\"\nVERSION_ID=\"12\"\nVERSION=\"Debian GNU/Linux 12 (bookworm)\"\nHOME_URL=\"https://github.com/GoogleContainerTools/distroless\"\nSUPPORT_URL=\"https://github.com/GoogleContainerTools/distroless/blob/master/README.md\"\nBUG_REPORT_URL=\"https://github.com/GoogleContainerTools/distroless/issues/new\"\n",
        "debian",
        "12",
        "bookworm",
        None,
    ),
];

#[test]
fn every_distribution_from_os_release() {
    for (image, text, id, version, codename, cpe) in OS_RELEASE {
        for path in ["etc/os-release", "usr/lib/os-release"] {
            let d = detect(&[(path, text)]);
            assert_eq!(
                (
                    d.did.as_str(),
                    d.version_id.as_str(),
                    d.version_codename.as_str(),
                    d.cpe.as_deref()
                ),
                (*id, *version, *codename, *cpe),
                "{image}"
            );
            assert_eq!(d.path, path);
            assert!(!d.name.is_empty() && !d.pretty_name.is_empty(), "{image}");
        }
    }
    let distroless = detect(&[("etc/os-release", OS_RELEASE.last().unwrap().1)]);
    assert_eq!(distroless.pretty_name, "Distroless");
}

/// `(file, first lines, ID, VERSION_ID)` of images older than os-release or stripped of it.
const RELEASE_FILES: &[(&str, &str, &str, &str)] = &[
    (
        "etc/redhat-release",
        "Red Hat Enterprise Linux Server release 6.10 (Santiago)\n",
        "rhel",
        "6.10",
    ),
    (
        "etc/redhat-release",
        "Red Hat Enterprise Linux release 8.9 (Ootpa)\n",
        "rhel",
        "8.9",
    ),
    (
        "etc/centos-release",
        "CentOS release 6.10 (Final)\n",
        "centos",
        "6.10",
    ),
    (
        "etc/centos-release",
        "CentOS Stream release 9\n",
        "centos",
        "9",
    ),
    (
        "etc/rocky-release",
        "Rocky Linux release 8.9 (Green Obsidian)\n",
        "rocky",
        "8.9",
    ),
    (
        "etc/almalinux-release",
        "AlmaLinux release 9.3 (Shamrock Pampas Cat)\n",
        "almalinux",
        "9.3",
    ),
    (
        "etc/oracle-release",
        "Oracle Linux Server release 7.9\n",
        "ol",
        "7.9",
    ),
    (
        "etc/fedora-release",
        "Fedora release 39 (Thirty Nine)\n",
        "fedora",
        "39",
    ),
    (
        "etc/system-release",
        "Amazon Linux AMI release 2018.03\n",
        "amzn",
        "2018.03",
    ),
    (
        "etc/system-release",
        "Amazon Linux release 2 (Karoo)\n",
        "amzn",
        "2",
    ),
    (
        "etc/SuSE-release",
        "SUSE Linux Enterprise Server 12 (x86_64)\nVERSION = 12\nPATCHLEVEL = 5\n# This file is deprecated and will be removed in a future service pack or release.\n",
        "sles",
        "12.5",
    ),
    (
        "etc/SuSE-release",
        "openSUSE 13.2 (x86_64)\nVERSION = 13.2\nCODENAME = Harlequin\n# /etc/SuSE-release is deprecated and will be removed in the future, use /etc/os-release instead\n",
        "opensuse",
        "13.2",
    ),
    (
        "etc/photon-release",
        "VMware Photon OS 3.0\nPHOTON_BUILD_NUMBER=a0f216d\n",
        "photon",
        "3.0",
    ),
    ("etc/alpine-release", "3.19.1\n", "alpine", "3.19.1"),
    ("etc/debian_version", "12.5\n", "debian", "12"),
    (
        "etc/issue",
        "Debian GNU/Linux 12 \\n \\l\n\n",
        "debian",
        "12",
    ),
    (
        "etc/issue",
        "Ubuntu 22.04.4 LTS \\n \\l\n\n",
        "ubuntu",
        "22.04",
    ),
    (
        "etc/issue",
        "Welcome to Alpine Linux 3.19\nKernel \\r on an \\m (\\l)\n\n",
        "alpine",
        "3.19",
    ),
    (
        "etc/lsb-release",
        "DISTRIB_ID=Ubuntu\nDISTRIB_RELEASE=16.04\nDISTRIB_CODENAME=xenial\nDISTRIB_DESCRIPTION=\"Ubuntu 16.04.7 LTS\"\n",
        "ubuntu",
        "16.04",
    ),
];

#[test]
fn every_distribution_from_older_release_files() {
    for (path, text, id, version) in RELEASE_FILES {
        let d = detect(&[(path, text)]);
        assert_eq!(
            (d.did.as_str(), d.version_id.as_str()),
            (*id, *version),
            "{path}: {text:?}"
        );
        assert_eq!(d.path, *path);
    }
    // An image with both: os-release wins.
    let d = detect(&[
        (
            "etc/redhat-release",
            "CentOS Linux release 7.9.2009 (Core)\n",
        ),
        ("etc/os-release", OS_RELEASE[6].1),
    ]);
    assert_eq!(d.did, "almalinux");
}
