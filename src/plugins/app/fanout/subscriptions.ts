// Subscription counting: which users have members here, and one broker subscription per such user, changed one step at a time.
import { userChannel, type Broker } from './broker.js'

/** What counting needs of the broker: acknowledged subscribes and unsubscribes. */
export type Subscriber = Pick<Broker, 'subscribe' | 'unsubscribe'>

/** One user's members on this instance, as readers see them. */
export interface UserMembers<M> {
  readonly userId: string
  readonly members: ReadonlySet<M>
}

interface UserEntry<M> extends UserMembers<M> {
  readonly channel: string
  readonly members: Set<M>
  /** Members waiting for the subscription before they are admitted (or abandoned). */
  joining: number
  subscribed: boolean
  /** Subscription changes of one user run one after another, never interleaved. */
  chain: Promise<void>
  pending: number
}

/**
 * Subscribes a user's channel for their first member and unsubscribes it after the last one leaves. Generic in
 * the member (the registry's connection) so that it never touches a socket: it only counts them.
 */
export class Subscriptions<M> {
  private readonly users = new Map<string, UserEntry<M>>()
  /** Only subscribed users: a message on a channel finds its members in one lookup. */
  private readonly channels = new Map<string, UserEntry<M>>()
  private readonly goneWaiters = new Map<string, Array<() => void>>()
  private count = 0

  constructor (private readonly broker: Subscriber, private readonly prefix: string) {}

  /** The members a message on `channel` goes to; undefined unless the channel is subscribed. On the delivery path. */
  membersOf (channel: string): ReadonlySet<M> | undefined {
    return this.channels.get(channel)?.members
  }

  /**
   * Counts one member as joining `userId` and resolves once the user's channel is subscribed. It stays counted,
   * so the channel stays, until `admit` or `abandon`: no unsubscribe can slip between the two.
   */
  async join (userId: string): Promise<void> {
    const entry = this.entry(userId)
    entry.joining++
    try {
      await this.reconcile(entry)
    } catch (err) {
      entry.joining--
      throw err
    }
  }

  /** A joined member is in: the user's messages reach it from now on. */
  admit (userId: string, member: M): void {
    // Present: a joining member keeps its entry from being dropped.
    const entry = this.users.get(userId)
    if (entry === undefined) return
    entry.joining--
    entry.members.add(member)
    this.count++
  }

  /** A joined member went before it was admitted (its socket closed): the channel goes unless someone else wants it. */
  abandon (userId: string): Promise<void> {
    const entry = this.users.get(userId)
    if (entry === undefined) return Promise.resolve()
    entry.joining--
    return this.reconcile(entry)
  }

  /** Removes an admitted member; returns the unsubscribe when it was its user's last member here. */
  leave (userId: string, member: M): Promise<void> | undefined {
    const entry = this.users.get(userId)
    if (entry === undefined || !entry.members.delete(member)) return undefined
    this.count--
    return entry.members.size === 0 ? this.reconcile(entry) : undefined
  }

  /** Every user with an entry here (members, joining or being unsubscribed). */
  userMembers (): IterableIterator<UserMembers<M>> { return this.users.values() }

  /** Admitted members: all of them, or one user's. */
  * members (userId?: string): Generator<M> {
    const entries = userId === undefined ? this.users.values() : [this.users.get(userId)]
    for (const entry of entries) {
      if (entry !== undefined) yield * entry.members
    }
  }

  get memberCount (): number { return this.count }
  get userCount (): number { return this.users.size }
  countOf (userId: string): number { return this.users.get(userId)?.members.size ?? 0 }

  /** Resolves once the user has no member here and their channel is unsubscribed (shutdown, tests). */
  whenGone (userId: string): Promise<void> {
    if (!this.users.has(userId)) return Promise.resolve()
    return new Promise((resolve) => {
      const list = this.goneWaiters.get(userId) ?? []
      list.push(resolve)
      this.goneWaiters.set(userId, list)
    })
  }

  private entry (userId: string): UserEntry<M> {
    let entry = this.users.get(userId)
    if (entry === undefined) {
      entry = { userId, channel: userChannel(this.prefix, userId), members: new Set(), joining: 0, subscribed: false, chain: Promise.resolve(), pending: 0 }
      this.users.set(userId, entry)
    }
    return entry
  }

  /** Brings the broker subscription in line with whether the user has members here; serialized per user. */
  private reconcile (entry: UserEntry<M>): Promise<void> {
    entry.pending++
    const step = entry.chain.then(async () => {
      const wanted = entry.members.size + entry.joining > 0
      if (wanted && !entry.subscribed) {
        await this.broker.subscribe(entry.channel)
        entry.subscribed = true
        this.channels.set(entry.channel, entry)
      } else if (!wanted && entry.subscribed) {
        this.channels.delete(entry.channel)
        entry.subscribed = false
        await this.broker.unsubscribe(entry.channel)
      }
    }).finally(() => {
      entry.pending--
      const idle = entry.pending === 0 && !entry.subscribed && entry.members.size === 0 && entry.joining === 0
      if (idle && this.users.get(entry.userId) === entry) {
        this.users.delete(entry.userId)
        for (const resolve of this.goneWaiters.get(entry.userId)?.splice(0) ?? []) resolve()
      }
    })
    entry.chain = step.catch(() => undefined)
    return step
  }
}
