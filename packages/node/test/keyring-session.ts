/**
 * Vitest global setup: a real Secret Service for the keychain tests wherever
 * one can be started. Without a D-Bus session (a server, a container, CI) and
 * with `dbus-daemon` and `gnome-keyring-daemon` installed, it starts a private
 * session bus and a throwaway keyring unlocked with a throwaway password, in a
 * directory of their own, and stops both when the tests end. A machine that
 * already has a session bus keeps it; one without these programs gets none
 * (the keychain tests then say why they skip, or fail in CI).
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

const installed = (program: string) => spawnSync("sh", ["-c", `command -v ${program}`], { stdio: "ignore" }).status === 0

/** The first line a child prints on stdout. */
const firstLine = (child: ChildProcess) =>
  new Promise<string>((resolve, reject) => {
    let text = ""
    child.stdout!.on("data", (chunk: Buffer) => {
      text += chunk.toString("utf8")
      const end = text.indexOf("\n")
      if (end >= 0) resolve(text.slice(0, end).trim())
    })
    child.once("exit", (code) => reject(new Error(`${child.spawnfile} exited (${code}) before it was ready`)))
  })

export default async function setup(): Promise<(() => void) | undefined> {
  if (process.platform !== "linux" || process.env.DBUS_SESSION_BUS_ADDRESS) return undefined
  if (!installed("dbus-daemon") || !installed("gnome-keyring-daemon")) return undefined

  const directory = mkdtempSync(join(tmpdir(), "subauth-keyring-"))
  const bus = spawn("dbus-daemon", ["--session", "--nofork", "--print-address=1"], { stdio: ["ignore", "pipe", "ignore"] })
  const stop = () => {
    bus.kill()
    rmSync(directory, { recursive: true, force: true })
  }
  try {
    const address = await firstLine(bus)
    // It forks, and its first process ends once the keyring serves; it ends itself when the bus goes away.
    const keyring = spawnSync("gnome-keyring-daemon", ["--unlock", "--components=secrets"], {
      env: { ...process.env, DBUS_SESSION_BUS_ADDRESS: address, XDG_DATA_HOME: directory, XDG_RUNTIME_DIR: directory },
      input: "throwaway",
      stdio: ["pipe", "ignore", "inherit"],
      timeout: 10_000
    })
    if (keyring.status !== 0) throw new Error(`gnome-keyring-daemon failed (${keyring.status ?? keyring.signal})`)
    process.env.DBUS_SESSION_BUS_ADDRESS = address // the test workers start after this and inherit it
  } catch (error) {
    console.warn(`no private keyring for the keychain tests: ${String(error)}`)
    stop()
    return undefined
  }
  return () => {
    stop()
    delete process.env.DBUS_SESSION_BUS_ADDRESS
  }
}
