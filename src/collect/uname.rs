//! `uname`: node_uname_info, the uname(2) fields as labels.

use std::ffi::CStr;

use super::{CollectError, Collector, Family, FamilyKind, Paths};

pub(crate) struct UnameCollector;

fn field(chars: &[libc::c_char]) -> String {
    // The kernel NUL-terminates every field; guard anyway so a full buffer is not over-read.
    if !chars.contains(&0) {
        return String::new();
    }
    // SAFETY: the slice contains a NUL, so CStr::from_ptr stops inside it.
    unsafe { CStr::from_ptr(chars.as_ptr()) }.to_string_lossy().into_owned()
}

impl Collector for UnameCollector {
    fn update(&mut self, _paths: &Paths, out: &mut Vec<Family>) -> Result<(), CollectError> {
        // SAFETY: utsname is plain data; zeroed is a valid value and uname fills it.
        let mut u: libc::utsname = unsafe { std::mem::zeroed() };
        // SAFETY: u is a valid, writable utsname.
        if unsafe { libc::uname(&mut u) } != 0 {
            return Err(CollectError::Sys { call: "uname", source: std::io::Error::last_os_error() });
        }
        let (sysname, release, version) = (field(&u.sysname), field(&u.release), field(&u.version));
        let (machine, nodename, domainname) = (field(&u.machine), field(&u.nodename), field(&u.domainname));
        let mut f = Family::new(
            "node_uname_info",
            "Labeled system information as provided by the uname system call.",
            FamilyKind::Gauge,
        );
        f.push(
            [
                ("sysname", sysname.as_str()),
                ("release", release.as_str()),
                ("version", version.as_str()),
                ("machine", machine.as_str()),
                ("nodename", nodename.as_str()),
                ("domainname", domainname.as_str()),
            ],
            1.0,
        );
        out.push(f);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    #[test]
    fn reports_this_kernel() {
        let mut out = Vec::new();
        UnameCollector.update(&fixture_paths(), &mut out).unwrap();
        let f = family(&out, "node_uname_info");
        let (labels, v) = &f.samples[0];
        assert_eq!(*v, 1.0);
        assert_eq!(labels.get("sysname"), Some("Linux"));
        let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
        assert_eq!(labels.get("release"), Some(release.trim()));
    }

    #[test]
    fn field_without_nul_is_empty() {
        assert_eq!(field(&[b'a' as libc::c_char, b'b' as libc::c_char]), "");
        assert_eq!(field(&[b'a' as libc::c_char, 0, b'b' as libc::c_char]), "a");
    }
}
