//! The capture file formats: classic pcap and pcapng containers, cut into frames.

use super::{Endian, Error, Frame, slice};

/// Every frame of a classic pcap or pcapng file, in file order.
pub fn frames(file: &[u8]) -> Result<Vec<Frame<'_>>, Error> {
    let magic: [u8; 4] = match file.get(..4) {
        Some(m) => [m[0], m[1], m[2], m[3]],
        None => return Err(Error::Truncated { offset: 0 }),
    };
    match magic {
        [0xa1, 0xb2, 0xc3, 0xd4] | [0xa1, 0xb2, 0x3c, 0x4d] => classic(file, Endian::Big),
        [0xd4, 0xc3, 0xb2, 0xa1] | [0x4d, 0x3c, 0xb2, 0xa1] => classic(file, Endian::Little),
        PCAPNG_SHB => pcapng(file),
        other => Err(Error::Magic(other)),
    }
}

/// The capture time of every frame of a classic pcap file, in nanoseconds since the
/// epoch, in the order of [`frames`] (microsecond files are scaled up). pcapng files, whose
/// timestamp unit is per interface, are refused with [`Error::Magic`].
pub fn timestamps_ns(file: &[u8]) -> Result<Vec<u64>, Error> {
    let magic: [u8; 4] = match file.get(..4) {
        Some(m) => [m[0], m[1], m[2], m[3]],
        None => return Err(Error::Truncated { offset: 0 }),
    };
    let (endian, frac_ns) = match magic {
        [0xa1, 0xb2, 0xc3, 0xd4] => (Endian::Big, 1_000),
        [0xa1, 0xb2, 0x3c, 0x4d] => (Endian::Big, 1),
        [0xd4, 0xc3, 0xb2, 0xa1] => (Endian::Little, 1_000),
        [0x4d, 0x3c, 0xb2, 0xa1] => (Endian::Little, 1),
        other => return Err(Error::Magic(other)),
    };
    let mut out = Vec::new();
    let mut off = 24;
    if file.len() < off {
        return Err(Error::Truncated { offset: 0 });
    }
    while off < file.len() {
        let truncated = Error::Truncated { offset: off };
        let secs = endian.u32(file, off).ok_or(truncated.clone())?;
        let frac = endian.u32(file, off + 4).ok_or(truncated.clone())?;
        let caplen = endian.usize(file, off + 8).ok_or(truncated.clone())?;
        slice(file, off + 16, caplen).ok_or(truncated)?;
        out.push(u64::from(secs) * 1_000_000_000 + u64::from(frac) * frac_ns);
        off += 16 + caplen;
    }
    Ok(out)
}

const PCAPNG_SHB: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];

fn classic(file: &[u8], endian: Endian) -> Result<Vec<Frame<'_>>, Error> {
    let header = file.get(..24).ok_or(Error::Truncated { offset: 0 })?;
    let (major, minor) = (
        endian.u16(header, 4).unwrap_or(0),
        endian.u16(header, 6).unwrap_or(0),
    );
    if major != 2 {
        return Err(Error::Version { major, minor });
    }
    // The upper bits of the link-type word carry FCS information; the FCS, if any, lies
    // past the IP total length and is never read.
    let link_type = endian.u32(header, 20).unwrap_or(0) & 0xffff;
    let mut frames = Vec::new();
    let mut off = 24;
    while off < file.len() {
        let truncated = Error::Truncated { offset: off };
        let caplen = endian.usize(file, off + 8).ok_or(truncated.clone())?;
        let data = slice(file, off + 16, caplen).ok_or(truncated)?;
        frames.push(Frame {
            number: frames.len() + 1,
            link_type,
            data,
        });
        off += 16 + caplen;
    }
    Ok(frames)
}

/// pcapng block types this reader understands.
pub(super) mod block {
    pub const SHB: u32 = 0x0a0d_0d0a;
    pub const IDB: u32 = 1;
    pub const SPB: u32 = 3;
    pub const EPB: u32 = 6;
}

fn pcapng(file: &[u8]) -> Result<Vec<Frame<'_>>, Error> {
    let mut frames = Vec::new();
    let mut endian = Endian::Little;
    // (link type, snap length) of each interface of the current section.
    let mut interfaces: Vec<(u32, usize)> = Vec::new();
    let mut off = 0;
    while off < file.len() {
        let truncated = Error::Truncated { offset: off };
        let bad = |reason| Error::Block {
            offset: off,
            reason,
        };
        if file.get(off..off + 4) == Some(&PCAPNG_SHB[..]) {
            // A new section: its byte order is given by the magic after the length.
            endian = match file.get(off + 8..off + 12).ok_or(truncated.clone())? {
                [0x1a, 0x2b, 0x3c, 0x4d] => Endian::Big,
                [0x4d, 0x3c, 0x2b, 0x1a] => Endian::Little,
                _ => return Err(bad("bad byte-order magic in section header")),
            };
            interfaces.clear();
        } else if off == 0 {
            return Err(bad("the first block is not a section header"));
        }
        let block_type = endian.u32(file, off).ok_or(truncated.clone())?;
        let total = endian.usize(file, off + 4).ok_or(truncated.clone())?;
        if total < 12 || !total.is_multiple_of(4) {
            return Err(bad("block length below 12 or not a multiple of 4"));
        }
        let whole = slice(file, off, total).ok_or(truncated)?;
        if endian.usize(whole, total - 4) != Some(total) {
            return Err(bad("trailing block length differs from the leading one"));
        }
        let body = &whole[8..total - 4];
        match block_type {
            block::SHB => {
                let major = endian.u16(body, 4).ok_or(bad("short section header"))?;
                if major != 1 || body.len() < 16 {
                    return Err(bad("section header of an unknown major version"));
                }
            }
            block::IDB => {
                let link_type = endian.u16(body, 0).ok_or(bad("short interface block"))?;
                let snaplen = endian.usize(body, 4).ok_or(bad("short interface block"))?;
                interfaces.push((u32::from(link_type), snaplen));
            }
            block::EPB => {
                let number = frames.len() + 1;
                let id = endian
                    .u32(body, 0)
                    .ok_or(bad("short enhanced packet block"))?;
                let caplen = endian
                    .usize(body, 12)
                    .ok_or(bad("short enhanced packet block"))?;
                let data = slice(body, 20, caplen)
                    .ok_or(bad("captured length exceeds the enhanced packet block"))?;
                let &(link_type, _) = usize::try_from(id)
                    .ok()
                    .and_then(|i| interfaces.get(i))
                    .ok_or(Error::Interface { frame: number, id })?;
                frames.push(Frame {
                    number,
                    link_type,
                    data,
                });
            }
            block::SPB => {
                let number = frames.len() + 1;
                let orig = endian
                    .usize(body, 0)
                    .ok_or(bad("short simple packet block"))?;
                let &(link_type, snaplen) = interfaces.first().ok_or(Error::Interface {
                    frame: number,
                    id: 0,
                })?;
                // The block does not say how much was captured: the smallest of the
                // original length, the snap length (0 = unlimited) and the padded body.
                let mut caplen = orig.min(body.len() - 4);
                if snaplen != 0 {
                    caplen = caplen.min(snaplen);
                }
                frames.push(Frame {
                    number,
                    link_type,
                    data: &body[4..4 + caplen],
                });
            }
            _ => {}
        }
        off += total;
    }
    Ok(frames)
}
