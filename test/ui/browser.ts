// Headless Chromium (Debian's `chromium` package, or $CHROMIUM) driven by puppeteer-core, for dashboard tests and screenshots.
import { existsSync } from 'node:fs'
import puppeteer, { type Browser, type Page } from 'puppeteer-core'

const CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome']

export function chromiumPath(): string {
  const path = process.env.CHROMIUM ?? CANDIDATES.find((p) => existsSync(p))
  if (!path || !existsSync(path)) throw new Error(`no Chromium found (tried ${process.env.CHROMIUM ?? CANDIDATES.join(', ')}); apt-get install -y chromium, or set CHROMIUM`)
  return path
}

export async function launch(): Promise<Browser> {
  return puppeteer.launch({
    executablePath: chromiumPath(),
    // --no-sandbox: CI runs as root in a container, where Chromium's sandbox cannot start.
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--headless=new'],
  })
}

export async function openDashboard(browser: Browser, apiPort: number, width = 1280, height = 900): Promise<Page> {
  const page = await browser.newPage()
  await page.setViewport({ width, height })
  await page.goto(`http://127.0.0.1:${apiPort}/`, { waitUntil: 'domcontentloaded', timeout: 15_000 })
  return page
}

/** What a person sees in the members table: id -> [state, role, tags text] from the visible cells. */
export async function visibleMembers(page: Page): Promise<Record<string, { state: string; role: string; tags: string; self: boolean }>> {
  return page.$$eval('#members tr', (rows) =>
    Object.fromEntries(
      rows.map((tr) => {
        const cells = [...tr.querySelectorAll('td')].map((td) => (td as HTMLElement).innerText.trim())
        return [cells[0].replace(/ \(this node\)$/, ''), { state: cells[1], role: cells[2], tags: cells[4], self: tr.classList.contains('self') }]
      }),
    ),
  )
}

export async function visibleText(page: Page, selector: string): Promise<string> {
  return page.$eval(selector, (e) => (e as HTMLElement).innerText.trim())
}

/** Poll the page until `check` holds (bounded); the error names what was awaited and the last value seen. */
export async function waitOnPage<T>(what: string, check: () => Promise<T | null | undefined | false>, timeoutMs = 30_000): Promise<T> {
  const deadline = performance.now() + timeoutMs
  let last: unknown
  for (;;) {
    try {
      const v = await check()
      if (v) return v
      last = v
    } catch (e) {
      last = (e as Error).message
    }
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} on the page; last: ${JSON.stringify(last)}`)
    await new Promise((r) => setTimeout(r, 200))
  }
}
