"""JUnit XML, as Jenkins, GitLab and GitHub test reporters read it.

It follows the schema of the Jenkins xUnit plugin (junit-10.xsd,
https://github.com/jenkinsci/xunit-plugin/blob/master/src/main/resources/org/jenkinsci/plugins/xunit/types/model/xsd/junit-10.xsd):

    <testsuites name="lab check 3f" tests= failures= errors= time=>
      <testsuite name="SUBMISSION" tests= failures= errors= skipped= time=>
        <properties> stage, status, score, max_score, points:CHECK </properties>
        <testcase classname="lab3.3f" name="serves" time="0.120"/>
        <testcase ... name="reaps"><failure message="...">details</failure>
          <system-out>what the server printed</system-out></testcase>
        <testcase ... name="closes"><skipped message="..."/></testcase>
      </testsuite>
    </testsuites>

A required check that fails is a <failure>; one that errors, an <error>; a
skipped check (not applicable, or not run because the server does not serve)
is <skipped>, and so is a failed check the stage does not require (it
teaches the next stage and does not fail the submission). A submission that
could not be graded at all gets one testcase "grading" with an <error>.
Every text is escaped for humans, and nothing XML 1.0 forbids gets through.
"""

import xml.etree.ElementTree as ET

from ..i18n import _
from .gradescope import check_details, clean, number, server_tail

MESSAGE_CHARS = 1000          # a message attribute is one line, not an essay


def _time(seconds):
    return "%.3f" % max(0.0, float(seconds or 0))


def _message(text):
    text = " ".join(clean(text).split())
    return text if len(text) <= MESSAGE_CHARS else text[:MESSAGE_CHARS - 3] + "..."


def _classname(report):
    return "lab3.%s" % clean(report.stage) if report.stage else "lab3"


def _testcase(suite, report, check, counts):
    case = ET.SubElement(suite, "testcase", classname=_classname(report),
                         name=check.id, time=_time(check.seconds))
    counts["tests"] += 1
    credited = check.met
    if credited and check.status == "pass":
        return
    if check.status == "skip":
        counts["skipped"] += 1
        el = ET.SubElement(case, "skipped", message=_message(check.message or _("skipped")))
        if check.credited:
            el.set("type", "not-applicable")
        return
    details = check_details(check, report.stage, tail=False)
    if not check.required:
        counts["skipped"] += 1
        el = ET.SubElement(case, "skipped", type="not-required",
                           message=_message(_("%s (not required at %s): %s")
                                            % (_(check.status.upper()), report.stage,
                                               check.message)))
        el.text = details
    elif check.status == "error":
        counts["errors"] += 1
        el = ET.SubElement(case, "error", type="grader-error", message=_message(check.message))
        el.text = details
    else:
        counts["failures"] += 1
        el = ET.SubElement(case, "failure", type="check-failed", message=_message(check.message))
        el.text = details
    heading, tail = server_tail(check.output)
    if tail:
        ET.SubElement(case, "system-out").text = heading + "\n" + tail + "\n"


def _suite(parent, report):
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    suite = ET.SubElement(parent, "testsuite", name=clean(report.submission) or "(none)")
    props = ET.SubElement(suite, "properties")
    for name, value in (("stage", report.stage), ("status", report.status),
                        ("score", number(0 if report.status == "error" else report.score)),
                        ("max_score", number(report.max_score))):
        ET.SubElement(props, "property", name=name, value=clean(value))
    for check in report.checks:
        ET.SubElement(props, "property", name="points:" + check.id,
                      value="%s/%s" % (number(check.points), number(check.max_points)))
    for check in report.checks:
        _testcase(suite, report, check, counts)
    if report.status == "error" and not report.checks:
        case = ET.SubElement(suite, "testcase", classname=_classname(report),
                             name="grading", time=_time(report.seconds))
        el = ET.SubElement(case, "error", type="not-graded",
                           message=_message(report.message or _("the grader could not run")))
        el.text = clean(report.message or _("the grader could not run"))
        counts["tests"] += 1
        counts["errors"] += 1
    elif report.status == "error" and report.message:
        ET.SubElement(suite, "system-err").text = clean(report.message)
    for key, value in counts.items():
        suite.set(key, str(value))
    suite.set("time", _time(report.seconds))
    return counts


def write_junit(reports, single):
    stage = reports[0].stage if reports else ""
    root = ET.Element("testsuites", name=("lab check %s" if single else "lab grade --stage %s")
                      % clean(stage))
    totals = {"tests": 0, "failures": 0, "errors": 0}
    for report in reports:
        counts = _suite(root, report)
        for key in totals:
            totals[key] += counts[key]
    for key, value in totals.items():
        root.set(key, str(value))
    root.set("time", _time(sum(r.seconds or 0 for r in reports)))
    ET.indent(root)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            + ET.tostring(root, encoding="unicode") + "\n")
