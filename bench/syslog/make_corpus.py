#!/usr/bin/env python3
"""Writes the syslog benchmark corpus: RFC 3164 lines as NXLog sends Windows events with
to_syslog_bsd() and to_json() (`<14>Mmm dd hh:mm:ss HOST Microsoft-Windows-Sysmon[PID]: {...}`),
each carrying one Sysmon event 13 (registry value set) of about 1 KB, deterministic from the seed.
Exactly one line in every block of --hit-rate lines sets AmsiEnable to DWORD (0x00000000), at a
seeded position in its block; no other line names AmsiEnable in any spelling, so a receiver that
greps for "AmsiEnable" and amsiwatch's rule must find the same lines.

usage: make_corpus.py --lines N [--hit-rate 10000] [--seed 1] OUT
prints the number of AmsiEnable lines written on standard output."""
import argparse
import json
import random

# Busy registry keys Sysmon 13 reports on a Windows fleet, with the process that usually writes
# them and a Details generator.
KEYS = [
    (r"HKU\{sid}\Software\Microsoft\Windows\CurrentVersion\Explorer\UserAssist\{{CEBFF5CD-ACE2-4F4F-9178-9926F41749EA}}\Count\HRZR_PGYFRFFVBA",
     r"C:\Windows\explorer.exe", lambda r: "Binary Data"),
    (r"HKLM\System\CurrentControlSet\Services\bam\State\UserSettings\{sid}\\Device\HarddiskVolume3\Windows\System32\svchost.exe",
     r"C:\Windows\system32\svchost.exe", lambda r: "Binary Data"),
    (r"HKLM\SOFTWARE\Microsoft\Windows Defender\Signature Updates\SignaturesLastUpdated",
     r"C:\ProgramData\Microsoft\Windows Defender\Platform\4.18.24090.11-0\MsMpEng.exe",
     lambda r: "QWORD (0x01db%04x-0x%08x)" % (r.randrange(1 << 16), r.randrange(1 << 32))),
    (r"HKLM\System\CurrentControlSet\Services\W32Time\Config\LastKnownGoodTime",
     r"C:\Windows\system32\svchost.exe",
     lambda r: "QWORD (0x01db%04x-0x%08x)" % (r.randrange(1 << 16), r.randrange(1 << 32))),
    (r"HKLM\System\CurrentControlSet\Services\{svc}\Start", r"C:\Windows\system32\services.exe",
     lambda r: "DWORD (0x%08x)" % r.choice([2, 3, 4])),
    (r"HKU\{sid}\Software\Microsoft\Windows\CurrentVersion\Internet Settings\ZoneMap\ProxyBypass",
     r"C:\Windows\System32\rundll32.exe", lambda r: "DWORD (0x00000001)"),
    (r"HKU\{sid}\Software\Microsoft\Windows\CurrentVersion\Run\OneDrive",
     r"C:\Users\{user}\AppData\Local\Microsoft\OneDrive\OneDrive.exe",
     lambda r: '"C:\\Users\\j.doe\\AppData\\Local\\Microsoft\\OneDrive\\OneDrive.exe" /background'),
    (r"HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion\Winlogon\AutoRestartShell",
     r"C:\Windows\system32\winlogon.exe", lambda r: "DWORD (0x00000001)"),
    (r"HKLM\System\CurrentControlSet\Services\Tcpip\Parameters\Interfaces\{{{guid}}}\DhcpIPAddress",
     r"C:\Windows\system32\svchost.exe",
     lambda r: "10.%d.%d.%d" % (r.randrange(256), r.randrange(256), r.randrange(1, 255))),
    (r"HKLM\SOFTWARE\Policies\Microsoft\Windows Defender\Real-Time Protection\DisableScanOnRealtimeEnable",
     r"C:\Windows\system32\gpupdate.exe", lambda r: "DWORD (0x00000000)"),
    (r"HKU\{sid}\Software\Microsoft\Windows\CurrentVersion\Explorer\RecentDocs\.docx\{n}",
     r"C:\Windows\explorer.exe", lambda r: "Binary Data"),
    (r"HKU\{sid}\Software\Microsoft\Office\16.0\Common\Roaming\Identities\{guid}\LastSwitchedTime",
     r"C:\Program Files\Microsoft Office\root\Office16\WINWORD.EXE",
     lambda r: "QWORD (0x01db%04x-0x%08x)" % (r.randrange(1 << 16), r.randrange(1 << 32))),
    (r"HKLM\SOFTWARE\Microsoft\SystemCertificates\AuthRoot\Certificates\{hash}\Blob",
     r"C:\Windows\system32\svchost.exe", lambda r: "Binary Data"),
    (r"HKU\{sid}\Software\Microsoft\Windows Script\Settings\TrustPolicy",
     r"C:\Windows\system32\reg.exe", lambda r: "DWORD (0x00000000)"),
]
SERVICES = ["wuauserv", "BITS", "DiagTrack", "WSearch", "Spooler", "RemoteRegistry", "sppsvc"]
USERS = ["j.doe", "a.martin", "s.chen", "r.kowalski", "m.garcia", "l.nguyen", "k.ivanova",
         "p.okafor", "svc_backup", "svc_sql", "t.mueller", "e.rossi"]
AMSI_WRITERS = [
    r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe",
    r"C:\Program Files\PowerShell\7\pwsh.exe",
    r"C:\Windows\system32\reg.exe",
    r"C:\Windows\System32\wscript.exe",
    r"C:\Windows\System32\cscript.exe",
]
MONTHS = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()


def event(r, i, amsi):
    host = "WKS-%s-%03d" % (r.choice(["FIN", "HR", "ENG", "OPS", "SAL"]), r.randrange(256))
    user = r.choice(USERS)
    sid = "S-1-5-21-1111111111-2222222222-3333333333-%d" % (1100 + USERS.index(user))
    sec = 8 * 3600 + i // 500
    hh, mm, ss = sec // 3600 % 24, sec // 60 % 60, sec % 60
    ms = r.randrange(1000)
    if amsi:
        hive = r.choice([r"HKU\%s" % sid, "HKLM"])
        target = hive + r"\Software\Microsoft\Windows Script\Settings\AmsiEnable"
        image, details = r.choice(AMSI_WRITERS), "DWORD (0x00000000)"
    else:
        tmpl, image, det = r.choice(KEYS)
        target = tmpl.format(sid=sid, svc=r.choice(SERVICES), user=user, n=r.randrange(20),
                             guid="%08X-%04X-%04X-%04X-%012X" % (
                                 r.randrange(1 << 32), r.randrange(1 << 16), r.randrange(1 << 16),
                                 r.randrange(1 << 16), r.randrange(1 << 48)),
                             hash="%040X" % r.randrange(1 << 160))
        image = image.format(user=user)
        details = det(r)
    pid = r.randrange(400, 20000)
    doc = {
        "EventTime": "2026-03-03 %02d:%02d:%02d" % (hh, mm, ss),
        "Hostname": host,
        "Keywords": -9223372036854775808,
        "EventType": "SetValue",
        "SeverityValue": 2,
        "Severity": "INFO",
        "EventID": 13,
        "SourceName": "Microsoft-Windows-Sysmon",
        "ProviderGuid": "{5770385F-C22A-43E0-BF4C-06F5698FFBD9}",
        "Version": 2,
        "Task": 13,
        "OpcodeValue": 0,
        "RecordNumber": 400000 + i,
        "ProcessID": 2968,
        "ThreadID": r.randrange(1000, 9000),
        "Channel": "Microsoft-Windows-Sysmon/Operational",
        "Domain": "NT AUTHORITY",
        "AccountName": "SYSTEM",
        "UserID": "S-1-5-18",
        "AccountType": "User",
        "Category": "Registry value set (rule: RegistryEvent)",
        "Opcode": "Info",
        "RuleName": "-",
        "UtcTime": "2026-03-03 %02d:%02d:%02d.%03d" % (hh, mm, ss, ms),
        "ProcessGuid": "{3F2A9C11-%04X-%04X-%04X-%012X}" % (
            r.randrange(1 << 16), r.randrange(1 << 16), r.randrange(1 << 16),
            r.randrange(1 << 48)),
        "ProcessId": str(pid),
        "Image": image,
        "TargetObject": target,
        "Details": details,
        "User": "CORP\\" + user,
        "EventReceivedTime": "2026-03-03 %02d:%02d:%02d" % (hh, mm, min(ss + 1, 59)),
        "SourceModuleName": "eventlog",
        "SourceModuleType": "im_msvistalog",
    }
    body = json.dumps(doc, separators=(",", ":"))
    return "<14>Mar %2d %02d:%02d:%02d %s Microsoft-Windows-Sysmon[2968]: %s" % (
        3, hh, mm, ss, host, body)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, required=True)
    ap.add_argument("--hit-rate", type=int, default=10000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("out")
    a = ap.parse_args()
    r = random.Random(a.seed)
    hits, size = 0, 0
    with open(a.out, "w", newline="\n") as f:
        for block in range(0, a.lines, a.hit_rate):
            n = min(a.hit_rate, a.lines - block)
            at = r.randrange(a.hit_rate)
            for j in range(n):
                line = event(r, block + j, j == at)
                assert (j == at) == ("amsienable" in line.lower())
                hits += j == at
                size += len(line) + 1
                f.write(line + "\n")
    print(hits)


if __name__ == "__main__":
    main()
