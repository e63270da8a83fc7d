#!/usr/bin/env python3
"""Lists the multipart uploads in progress under an S3 prefix, as S3 itself
reports them (boto3's ListMultipartUploads, never chronicle code), for the
test that a killed archive run leaves none behind once the next run or
`verify` has seen it. Prints a JSON list of [key, upload id].
The server and credentials are the AWS_* variables of the environment.
Usage: s3_uploads.py s3://BUCKET/PREFIX"""
import json
import os
import sys

import boto3

url = sys.argv[1]
assert url.startswith("s3://"), url
bucket, _, prefix = url[len("s3://"):].partition("/")
s3 = boto3.client(
    "s3",
    endpoint_url=os.environ.get("AWS_ENDPOINT_URL"),
    region_name=os.environ.get("AWS_REGION", "us-east-1"),
)
uploads = []
kwargs = {"Bucket": bucket, "Prefix": prefix.rstrip("/") + "/" if prefix else ""}
while True:
    page = s3.list_multipart_uploads(**kwargs)
    uploads += [[u["Key"], u["UploadId"]] for u in page.get("Uploads", [])]
    if not page.get("IsTruncated"):
        break
    kwargs["KeyMarker"] = page["NextKeyMarker"]
    kwargs["UploadIdMarker"] = page["NextUploadIdMarker"]
print(json.dumps(sorted(uploads)))
