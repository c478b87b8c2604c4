// Subscription counting (fanout/subscriptions.ts) on the app's real Redis broker: one SUBSCRIBE per user, UNSUBSCRIBE after the last member.
import t, { type Test } from 'tap'
import { userChannel } from '../src/plugins/app/fanout/broker.js'
import { Subscriptions } from '../src/plugins/app/fanout/subscriptions.js'
import { build, isolate, redis } from './helper.js'

// A pass-through to the real broker records what the class asked it for.
t.test('Subscriptions', async (t) => {
  const iso = isolate(t)
  const gw = await build(t, iso)
  const r = redis(t)
  const calls: string[] = []
  const broker = {
    subscribe: async (channel: string) => { calls.push(`subscribe ${channel}`); await gw.app.broker.subscribe(channel) },
    unsubscribe: async (channel: string) => {
      calls.push(`unsubscribe ${channel}`)
      const sent = gw.app.broker.unsubscribe(channel)
      duringUnsubscribe?.()
      duringUnsubscribe = undefined
      await sent
    }
  }
  let duringUnsubscribe: (() => void) | undefined
  const numsub = async (channel: string): Promise<unknown> => (await r.pubsub('NUMSUB', channel))[1]
  const fresh = (t: Test): Subscriptions<{ name: string }> => {
    calls.length = 0
    t.teardown(() => { calls.length = 0 })
    return new Subscriptions<{ name: string }>(broker, iso.prefix)
  }
  /** A user with one admitted member, and a second one ready to join: where the churn tests start. */
  const oneAdmitted = async (t: Test, user: string) => {
    const subs = fresh(t)
    const first = { name: 'first' }
    await subs.join(user)
    subs.admit(user, first)
    return { subs, channel: userChannel(iso.prefix, user), first, second: { name: 'second' } }
  }

  t.test('one subscribe per user however many members join; one unsubscribe after the last leaves', async (t) => {
    const subs = fresh(t)
    const channel = userChannel(iso.prefix, 'ivy')
    const members = Array.from({ length: 5 }, (_, i) => ({ name: `ivy-${i}` }))
    await Promise.all(members.map(async (m) => { await subs.join('ivy'); subs.admit('ivy', m) }))
    t.same(calls, [`subscribe ${channel}`], 'five members, one subscribe')
    t.equal(await numsub(channel), 1, 'and Redis holds one subscription')
    t.equal(subs.membersOf(channel)?.size, 5, 'a message on the channel finds all five')
    t.equal(subs.memberCount, 5)
    t.equal(subs.userCount, 1)
    t.equal(subs.countOf('ivy'), 5)
    t.same([...subs.members('ivy')], members)

    for (const m of members.slice(0, 4)) t.equal(subs.leave('ivy', m), undefined, `${m.name} leaves: nothing to unsubscribe`)
    t.equal(await numsub(channel), 1, 'still subscribed while one member remains')
    t.equal(subs.leave('ivy', { name: 'stranger' }), undefined, 'a member never admitted changes nothing')
    await subs.leave('ivy', members[4]!)
    t.same(calls, [`subscribe ${channel}`, `unsubscribe ${channel}`], 'the last one out unsubscribes, once')
    t.equal(await numsub(channel), 0, 'Redis holds no subscription')
    t.equal(subs.membersOf(channel), undefined, 'a message on the channel finds nobody')
    await subs.whenGone('ivy')
    t.equal(subs.userCount, 0)
    t.equal(subs.memberCount, 0)
  })

  t.test('a join while the UNSUBSCRIBE is in flight subscribes again', async (t) => {
    const { subs, channel, first, second } = await oneAdmitted(t, 'jay')
    let joining: Promise<void> | undefined
    // The join starts once the UNSUBSCRIBE has been sent, before Redis answered it.
    duringUnsubscribe = () => { joining = subs.join('jay') }
    await subs.leave('jay', first)
    t.ok(joining, 'the second member joined while the unsubscribe was under way')
    await joining
    subs.admit('jay', second)
    t.same(calls, [`subscribe ${channel}`, `unsubscribe ${channel}`, `subscribe ${channel}`], 'unsubscribed, then subscribed again, in order')
    t.equal(await numsub(channel), 1, 'Redis holds the new subscription')
    t.same([...subs.membersOf(channel) ?? []], [second], 'messages reach the new member')
    await subs.leave('jay', second)
    await subs.whenGone('jay')
    t.equal(await numsub(channel), 0)
  })

  t.test('a leave and a join in the same turn keep the subscription without churn', async (t) => {
    const { subs, channel, first, second } = await oneAdmitted(t, 'lee')
    const leaving = subs.leave('lee', first)
    const joining = subs.join('lee')
    await Promise.all([leaving, joining])
    subs.admit('lee', second)
    t.same(calls, [`subscribe ${channel}`], 'no unsubscribe, no second subscribe')
    t.equal(await numsub(channel), 1)
    await subs.leave('lee', second)
    await subs.whenGone('lee')
  })

  t.test('a joined member keeps the channel until it is admitted or abandons', async (t) => {
    const subs = fresh(t)
    const channel = userChannel(iso.prefix, 'kim')
    const staying = { name: 'staying' }
    await subs.join('kim')
    subs.admit('kim', staying)
    await subs.join('kim')
    await subs.leave('kim', staying)
    t.same(calls, [`subscribe ${channel}`], 'the only admitted member left while another was joining: no unsubscribe')
    t.equal(await numsub(channel), 1, 'still subscribed')
    const gone = subs.whenGone('kim')
    await subs.abandon('kim')
    await gone
    t.same(calls, [`subscribe ${channel}`, `unsubscribe ${channel}`], 'the joiner gave up: unsubscribed')
    t.equal(await numsub(channel), 0)
    t.equal(subs.userCount, 0, 'nothing kept for the user')
  })
})
