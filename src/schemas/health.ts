// HTTP answers of the health routes: liveness (/health) and readiness (/health/ready).
import Type from 'typebox'

export const HealthSchema = Type.Object({ status: Type.String(), mode: Type.String(), instance: Type.String() })
export type Health = Type.Static<typeof HealthSchema>

/** Each dependency's check: "ok", or "failing: <why>". */
export const ReadySchema = Type.Object({ status: Type.String(), checks: Type.Record(Type.String(), Type.String()) })
