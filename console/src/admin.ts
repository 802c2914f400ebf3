// The admin view, for tenant.admin keys: API keys (list, create with roles, revoke) and a
// tenant's limits, over the REST admin API (gateway/src/rest/admin.rs) with the session's key;
// and a tenant's deliveries paused or resumed (PauseTenant, ResumeTenant) over gRPC-web.

import type { TenantPause } from "./gen/minoots/v1/timer_pb";
import { $, checked, el, fillTable, iso } from "./dom";
import { clearError, showError } from "./errors";
import type { Session } from "./session";

interface ApiKey {
  id: string;
  tenantId: string;
  name: string;
  roles: string[];
  tier?: string | null;
  createdAt: string;
  revokedAt?: string | null;
}

interface Limits {
  tenantId: string;
  activeTimers: number | null;
  dailyTimers: number | null;
}

export class AdminView {
  private session?: Session;

  constructor() {
    $<HTMLFormElement>("keys-filter").onsubmit = (ev) => {
      ev.preventDefault();
      void this.keys();
    };
    $<HTMLFormElement>("key-create").onsubmit = (ev) => {
      ev.preventDefault();
      void this.create();
    };
    $<HTMLFormElement>("limits-load").onsubmit = (ev) => {
      ev.preventDefault();
      void this.loadLimits();
    };
    $<HTMLFormElement>("limits-save").onsubmit = (ev) => {
      ev.preventDefault();
      void this.saveLimits();
    };
    $<HTMLFormElement>("tenant-pause").onsubmit = (ev) => {
      ev.preventDefault();
      void this.togglePause();
    };
  }

  /** Whether the key may administer: the same check the admin API makes. */
  async signIn(session: Session): Promise<boolean> {
    this.session = session;
    try {
      await session.rest("GET", "/admin/keys?tenantId=-");
      return true;
    } catch {
      // A 400 for the probe's tenant name would also have passed the role check.
      return false;
    }
  }

  signOut() {
    this.session = undefined;
    $("keys-rows").replaceChildren();
    $("key-secret").hidden = true;
  }

  async show() {
    await this.keys();
  }

  private error(e: unknown, form?: HTMLElement) {
    showError($("admin-error"), e, form);
  }

  async keys() {
    if (!this.session) return;
    const form = $("keys-filter");
    clearError($("admin-error"), form);
    const tenant = $<HTMLInputElement>("keys-tenant").value.trim();
    try {
      const { keys } = await this.session.rest<{ keys: ApiKey[] }>(
        "GET",
        `/admin/keys${tenant ? `?tenantId=${encodeURIComponent(tenant)}` : ""}`,
      );
      fillTable(
        $("keys-rows"),
        keys.map((k) => {
          const revoke = el("button", { type: "button", class: "secondary" }, "Revoke");
          revoke.setAttribute("aria-label", `Revoke key ${k.name || k.id}`);
          revoke.onclick = () => void this.revoke(k);
          return el(
            "tr",
            { "data-id": k.id },
            el("td", { class: "mono" }, k.id),
            el("td", {}, k.tenantId),
            el("td", {}, k.name),
            el("td", {}, k.roles.join(", ")),
            el("td", {}, k.tier ?? ""),
            el("td", {}, k.createdAt),
            el("td", {}, k.revokedAt ?? ""),
            el("td", {}, k.revokedAt ? null : revoke),
          );
        }),
      );
    } catch (e) {
      this.error(e, form);
    }
  }

  private async create() {
    if (!this.session) return;
    const form = $<HTMLFormElement>("key-create");
    clearError($("admin-error"), form);
    const tier = $<HTMLInputElement>("key-tier").value.trim();
    try {
      const { key, secret } = await this.session.rest<{ key: ApiKey; secret: string }>("POST", "/admin/keys", {
        tenantId: $<HTMLInputElement>("key-tenant").value.trim() || undefined,
        name: $<HTMLInputElement>("key-name").value,
        roles: checked(form, "role"),
        tier: tier || undefined,
      });
      const notice = $("key-secret");
      notice.replaceChildren(
        `Key ${key.id} for ${key.tenantId} (${key.roles.join(", ")}). Its secret, shown this once: `,
        el("code", { id: "key-secret-value" }, secret),
      );
      notice.hidden = false;
      await this.keys();
    } catch (e) {
      this.error(e, form);
    }
  }

  private async revoke(key: ApiKey) {
    if (!this.session) return;
    if (!confirm(`Revoke key ${key.name || key.id} of ${key.tenantId}? Its clients stop working at once.`)) return;
    clearError($("admin-error"));
    try {
      await this.session.rest("DELETE", `/admin/keys/${encodeURIComponent(key.id)}`);
      await this.keys();
    } catch (e) {
      this.error(e);
    }
  }

  private tenant() {
    return $<HTMLInputElement>("limits-tenant").value.trim();
  }

  private async loadLimits() {
    if (!this.session) return;
    const form = $("limits-load");
    clearError($("admin-error"), form);
    try {
      const limits = await this.session.rest<Limits>("GET", `/admin/tenants/${encodeURIComponent(this.tenant())}/limits`);
      $<HTMLInputElement>("limits-active").value = limits.activeTimers?.toString() ?? "";
      $<HTMLInputElement>("limits-daily").value = limits.dailyTimers?.toString() ?? "";
      $("limits-state").textContent = `limits of ${limits.tenantId}`;
      $("limits-save").hidden = false;
      this.showPause(await this.session.timers.getTenantPause({ tenantId: limits.tenantId }));
    } catch (e) {
      this.error(e, form);
    }
  }

  private paused = false;

  private showPause(pause: TenantPause, changed?: bigint) {
    this.paused = pause.paused;
    const count = changed === undefined ? "" : ` (${changed} timer${changed === 1n ? "" : "s"} ${pause.paused ? "paused" : "resumed"})`;
    $("tenant-pause-state").textContent = pause.paused
      ? `Deliveries of ${pause.tenantId} are paused since ${iso(pause.pausedAt)} by ${pause.pausedBy || "?"}: ${pause.reason}${count}`
      : `Deliveries of ${pause.tenantId} are running${count}`;
    $("tenant-pause-button").textContent = pause.paused ? "Resume deliveries" : "Pause deliveries";
    $("tenant-pause-reason").closest<HTMLElement>(".field")!.hidden = pause.paused;
    $("tenant-pause").hidden = false;
  }

  private async togglePause() {
    if (!this.session) return;
    const form = $("tenant-pause");
    clearError($("admin-error"), form);
    const tenantId = this.tenant();
    try {
      const pause = this.paused
        ? await this.session.timers.resumeTenant({ tenantId, requestedBy: "minoots-console" })
        : await this.session.timers.pauseTenant({
            tenantId,
            reason: $<HTMLInputElement>("tenant-pause-reason").value,
            requestedBy: "minoots-console",
          });
      this.showPause(pause, pause.changed);
    } catch (e) {
      this.error(e, form);
    }
  }

  private async saveLimits() {
    if (!this.session) return;
    const form = $("limits-save");
    clearError($("admin-error"), form);
    const number = (id: string) => {
      const text = $<HTMLInputElement>(id).value.trim();
      return text === "" ? null : Number(text);
    };
    try {
      const limits = await this.session.rest<Limits>("PUT", `/admin/tenants/${encodeURIComponent(this.tenant())}/limits`, {
        activeTimers: number("limits-active"),
        dailyTimers: number("limits-daily"),
      });
      $("limits-state").textContent = `saved for ${limits.tenantId}`;
    } catch (e) {
      this.error(e, form);
    }
  }
}
