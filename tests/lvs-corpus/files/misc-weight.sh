#!/bin/sh
# misc_dynamic: exit 2 + weight sets the weight to "weight".
exit 9
