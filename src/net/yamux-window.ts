// Yamux window updates only when half the receive window is used, as hashicorp/yamux (and go-yamux) do.
//
// @chainsafe/libp2p-yamux 7.0.4 answers every data frame it reads with a WINDOW_UPDATE frame: for the small
// messages of the core (a probe, an ack, a lease: 90-110 B) that is one more yamux frame, noise frame, write(2)
// and TCP segment per message in the other direction. Measured at 10 idle agents: 7.6 data frames per agent and
// second, each answered, about 600 B/s per agent on the wire (of ~3.2 KB/s) and a third of the frames an agent
// encrypts, writes and decrypts. The protocol does not ask for an update per frame: the sender may send until
// its window is used up, so one update per half window (128 KiB of the initial 256 KiB) keeps a bulk sender
// from ever waiting, and an idle stream sends none.
//
// Updates that carry a flag (SYN on a new outbound stream, ACK on a new inbound one) still go out at once;
// window growth for fast bulk transfers (the rtt check in the original) still runs at each update it sends.
import { StreamState, YamuxStream } from '@chainsafe/libp2p-yamux/stream'

interface Internals {
  state: StreamState
  recvWindow: number
  recvWindowCapacity: number
}

let installed = false

export function installLazyWindowUpdates(): void {
  if (installed) return
  installed = true
  const original = YamuxStream.prototype.sendWindowUpdate
  YamuxStream.prototype.sendWindowUpdate = function (this: YamuxStream) {
    const s = this as unknown as Internals
    const flagged = s.state === StreamState.Init || s.state === StreamState.SYNReceived
    if (!flagged && s.recvWindowCapacity > s.recvWindow / 2) return
    original.call(this)
  }
}
