//! Listening TCP sockets from the kernel's socket-diagnostics netlink
//! interface, the one `ss -lt` asks. A dump filtered to the listening
//! state makes the kernel walk only its listening sockets; reading
//! /proc/net/tcp walks every bucket of the established-connection table at
//! each read whatever is in it (262,144 buckets on a 24 GiB host: 4.6 ms of
//! kernel time per file, twice with tcp6). The target's processes are
//! found by port at every resource sample, so that cost was paid every
//! second of every step.

use std::collections::HashSet;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// `SOCK_DIAG_BY_FAMILY`: a request (and each answer) of the dump.
const SOCK_DIAG_BY_FAMILY: u16 = 20;
/// The kernel's `TCP_LISTEN` state number.
const TCP_LISTEN: u8 = 10;
/// `struct nlmsghdr`.
const HEADER_BYTES: usize = 16;
/// `struct inet_diag_req_v2`: family, protocol, extensions, padding, the
/// states bitmap and a 48-byte socket id.
const REQUEST_BYTES: usize = 56;
/// `struct inet_diag_msg`, up to and including its inode.
const ANSWER_BYTES: usize = 72;

/// The inodes of the TCP sockets listening on `port` (IPv4 and, where the
/// kernel has it, IPv6).
pub fn listening_inodes(port: u16) -> io::Result<HashSet<u64>> {
    let mut inodes = HashSet::new();
    dump(libc::AF_INET as u8, port, &mut inodes)?;
    // IPv6 may be disabled: a refused IPv6 dump leaves the IPv4 answer.
    let _ = dump(libc::AF_INET6 as u8, port, &mut inodes);
    Ok(inodes)
}

/// The dump request for the listening TCP sockets of one address family.
fn request(family: u8) -> Vec<u8> {
    let length = (HEADER_BYTES + REQUEST_BYTES) as u32;
    let flags = (libc::NLM_F_REQUEST | libc::NLM_F_DUMP) as u16;
    let mut out = Vec::with_capacity(length as usize);
    out.extend_from_slice(&length.to_ne_bytes());
    out.extend_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    out.extend_from_slice(&flags.to_ne_bytes());
    out.extend_from_slice(&1u32.to_ne_bytes()); // sequence number
    out.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel's
    out.extend_from_slice(&[family, libc::IPPROTO_TCP as u8, 0, 0]);
    out.extend_from_slice(&(1u32 << TCP_LISTEN).to_ne_bytes());
    out.extend_from_slice(&[0u8; 48]); // any socket id
    out
}

/// Reads one datagram of a dump (pure): adds the inode of each listening
/// socket on `port`; true once the dump's end is in it.
fn read_answers(datagram: &[u8], port: u16, inodes: &mut HashSet<u64>) -> io::Result<bool> {
    let invalid =
        |what: &str| io::Error::new(io::ErrorKind::InvalidData, format!("sock_diag: {what}"));
    let u32_at = |bytes: &[u8], at: usize| {
        u32::from_ne_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
    };
    let mut at = 0;
    while at + HEADER_BYTES <= datagram.len() {
        let length = u32_at(datagram, at) as usize;
        let kind = u16::from_ne_bytes([datagram[at + 4], datagram[at + 5]]);
        if length < HEADER_BYTES || at + length > datagram.len() {
            return Err(invalid("a message overruns its datagram"));
        }
        let body = &datagram[at + HEADER_BYTES..at + length];
        match kind {
            k if k == libc::NLMSG_DONE as u16 => return Ok(true),
            k if k == libc::NLMSG_ERROR as u16 => {
                if body.len() < 4 {
                    return Err(invalid("a short error message"));
                }
                let errno = u32_at(body, 0) as i32;
                if errno != 0 {
                    return Err(io::Error::from_raw_os_error(-errno));
                }
            }
            SOCK_DIAG_BY_FAMILY => {
                if body.len() < ANSWER_BYTES {
                    return Err(invalid("a short socket message"));
                }
                let state = body[1];
                let local_port = u16::from_be_bytes([body[4], body[5]]);
                if state == TCP_LISTEN && local_port == port {
                    inodes.insert(u64::from(u32_at(body, 68)));
                }
            }
            _ => {}
        }
        // Messages are padded to 4 bytes.
        at += (length + 3) & !3;
    }
    Ok(false)
}

/// Asks the kernel for one family's listening TCP sockets.
fn dump(family: u8, port: u16, inodes: &mut HashSet<u64>) -> io::Result<()> {
    // SAFETY: plain socket calls on a descriptor this function owns, with
    // buffers and address structures that outlive each call.
    unsafe {
        let fd = libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
            libc::NETLINK_SOCK_DIAG,
        );
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let socket = OwnedFd::from_raw_fd(fd);
        // A kernel that never answers must not hang the sampler.
        let timeout = libc::timeval {
            tv_sec: 1,
            tv_usec: 0,
        };
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&timeout as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        );
        let mut kernel: libc::sockaddr_nl = std::mem::zeroed();
        kernel.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        let message = request(family);
        let sent = libc::sendto(
            socket.as_raw_fd(),
            message.as_ptr().cast(),
            message.len(),
            0,
            (&kernel as *const libc::sockaddr_nl).cast(),
            std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
        );
        if sent < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            let n = libc::recv(
                socket.as_raw_fd(),
                buffer.as_mut_ptr().cast(),
                buffer.len(),
                0,
            );
            if n < 0 {
                return Err(io::Error::last_os_error());
            }
            if n == 0 || read_answers(&buffer[..n as usize], port, inodes)? {
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One netlink message of `kind` around `body`, padded to 4 bytes.
    fn message(kind: u16, body: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&((HEADER_BYTES + body.len()) as u32).to_ne_bytes());
        out.extend_from_slice(&kind.to_ne_bytes());
        out.extend_from_slice(&[0u8; 10]);
        out.extend_from_slice(body);
        while out.len() % 4 != 0 {
            out.push(0);
        }
        out
    }

    fn socket(state: u8, port: u16, inode: u32) -> Vec<u8> {
        let mut body = vec![0u8; ANSWER_BYTES];
        body[0] = libc::AF_INET as u8;
        body[1] = state;
        body[4..6].copy_from_slice(&port.to_be_bytes());
        body[68..72].copy_from_slice(&inode.to_ne_bytes());
        body
    }

    #[test]
    fn answers_name_the_listeners_of_the_port_and_the_dump_ends() {
        let mut datagram = message(SOCK_DIAG_BY_FAMILY, &socket(TCP_LISTEN, 8080, 111));
        datagram.extend(message(SOCK_DIAG_BY_FAMILY, &socket(TCP_LISTEN, 9090, 222)));
        // An established socket on the port is no listener.
        datagram.extend(message(SOCK_DIAG_BY_FAMILY, &socket(1, 8080, 333)));
        let mut inodes = HashSet::new();
        assert!(!read_answers(&datagram, 8080, &mut inodes).unwrap());
        assert_eq!(inodes, HashSet::from([111]));
        let done = message(libc::NLMSG_DONE as u16, &0u32.to_ne_bytes());
        assert!(read_answers(&done, 8080, &mut inodes).unwrap());
    }

    #[test]
    fn a_kernel_error_and_a_truncated_message_are_errors() {
        let refused = message(libc::NLMSG_ERROR as u16, &(-libc::EACCES).to_ne_bytes());
        let err = read_answers(&refused, 1, &mut HashSet::new()).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EACCES));
        let mut cut = message(SOCK_DIAG_BY_FAMILY, &socket(TCP_LISTEN, 1, 1));
        cut.truncate(40);
        let err = read_answers(&cut, 1, &mut HashSet::new()).unwrap_err();
        assert!(err.to_string().contains("overruns"), "{err}");
    }

    /// The known answer: the inode /proc/net/tcp gives a socket this test
    /// listens on, and no other.
    #[test]
    fn the_kernel_names_the_same_listener_as_proc_net_tcp() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let from_proc: HashSet<u64> = procfs::net::tcp()
            .unwrap()
            .into_iter()
            .filter(|e| e.state == procfs::net::TcpState::Listen && e.local_address.port() == port)
            .map(|e| e.inode)
            .collect();
        assert_eq!(from_proc.len(), 1);
        assert_eq!(listening_inodes(port).unwrap(), from_proc);
        drop(listener);
        assert!(listening_inodes(port).unwrap().is_empty());
    }
}
